import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { describeEachDatabase } from './support/databases.js';
import {
  failingTracesJsonText,
  newTraceId,
  pythonTracesJsonText,
  startTraceBody,
  tracesJsonPath,
  tracesJsonText,
} from './support/mlflow-payloads.js';
import { JSON_HEADERS, useTestApp } from './support/test-app.js';

describeEachDatabase('MLflow trace API', (database) => {
  const t = useTestApp(database);
  const post = (url: string, payload: unknown) => t.post(url, payload);
  const get = (url: string) => t.get(url);
  const putSpans = (traceId: string, body: string, experimentId = '0') =>
    t.app.inject({ method: 'PUT', url: tracesJsonPath(traceId, experimentId), headers: JSON_HEADERS, payload: body });

  /** Everything the server holds about a trace, to prove a refused request changed nothing. */
  const snapshot = async (traceId: string) => {
    const info = await get(`/api/3.0/mlflow/traces/${traceId}`);
    const spans = await get(tracesJsonPath(traceId));
    const sessions = await t.store.db.selectFrom('sessions').selectAll().orderBy('session_id').execute();
    const users = await t.store.db.selectFrom('users').selectAll().orderBy('user_id').execute();
    return { info: info.body, spans: spans.body, sessions, users };
  };

  describe('the official TypeScript SDK two-call flow', () => {
    const traceId = 'tr-a0299ac374893dcb79f09b5a795aa0e8';

    it('creates the trace and answers with the artifact location the SDK needs', async () => {
      const res = await post(
        '/api/3.0/mlflow/traces',
        startTraceBody({
          traceId,
          session: 'sess-1',
          user: 'user-1',
          clientRequestId: 'req-42',
          metadata: {
            'app.version': '1.2',
            'mlflow.trace.tokenUsage': '{"input_tokens":3,"output_tokens":4,"total_tokens":7}',
            'mlflow.traceInputs': '{"a":2,"b":3}',
            'mlflow.traceOutputs': '11',
          },
        }),
      );
      expect(res.statusCode).toBe(200);
      const info = res.json().trace.trace_info;
      expect(info.tags['mlflow.artifactLocation']).toBe(`mlflow-artifacts:/0/traces/${traceId}/artifacts`);
      expect(info.tags.fruit).toBe('apple');
      expect(info.trace_metadata['mlflow.trace.infoFinalized']).toBe('true');
      expect(info.trace_metadata['mlflow.trace.user']).toBe('user-1');
      expect(info.client_request_id).toBe('req-42');
      expect(info.request_time).toBe('2026-11-23T19:51:26.775Z');
      expect(info.execution_duration).toBe('0.002s');
    });

    it('accepts the span upload at the path derived from that location, with a JSON reply', async () => {
      const res = await putSpans(traceId, tracesJsonText(traceId));
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({});
    });

    it('reports token usage derived from spans in trace metadata', async () => {
      const id = newTraceId();
      await post('/api/3.0/mlflow/traces', startTraceBody({ traceId: id }));
      await putSpans(id, tracesJsonText(id));
      const info = (await get(`/api/3.0/mlflow/traces/${id}`)).json().trace.trace_info;
      expect(JSON.parse(info.trace_metadata['mlflow.trace.tokenUsage'])).toEqual({ input_tokens: 3, output_tokens: 4, total_tokens: 7 });
    });

    it('serves the trace info back (getTraceInfo) with the derived trace name', async () => {
      const res = await get(`/api/3.0/mlflow/traces/${traceId}`);
      expect(res.statusCode).toBe(200);
      const info = res.json().trace.trace_info;
      expect(info.trace_id).toBe(traceId);
      expect(info.state).toBe('OK');
      expect(info.tags['mlflow.traceName']).toBe('add');
      expect(info.trace_metadata['app.version']).toBe('1.2');
    });

    it('serves the spans back (getTrace) with exact nanoseconds and the real trace id', async () => {
      const res = await get(tracesJsonPath(traceId));
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('"start_time_unix_nano":1795463486775000000');
      expect(res.body).toContain('"end_time_unix_nano":1795463486777437333');
      const spans = JSON.parse(res.body).spans;
      expect(spans.map((s: { name: string }) => s.name)).toEqual(['add', 'inner']);
      // base64 of the 16 bytes a0299ac3...e8: the mangled id of the upload was not kept.
      expect(Buffer.from(spans[0].trace_id, 'base64').toString('hex')).toBe(traceId.slice(3));
      expect(spans[1].parent_span_id).toBe('8MA1SDFQpsg=');
      expect(JSON.parse(spans[1].attributes['mlflow.chat.tokenUsage'])).toEqual({ input_tokens: 3, output_tokens: 4, total_tokens: 7 });
      expect(JSON.parse(spans[1].attributes['custom.num'])).toBe(5);
    });

    it('serves info and spans together on traces/get, as OTLP span JSON', async () => {
      const res = await get(`/api/3.0/mlflow/traces/get?trace_id=${traceId}`);
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('"start_time_unix_nano":1795463486775000000');
      const trace = JSON.parse(res.body).trace;
      expect(trace.trace_info.trace_id).toBe(traceId);
      expect(trace.spans).toHaveLength(2);
      expect(trace.spans[0].attributes).toContainEqual({ key: 'mlflow.spanType', value: { string_value: '"CHAIN"' } });
    });

    it('logs a failing trace (example 3) with its exception event', async () => {
      const failing = 'tr-d1ec17f7563f02ca85752a0583f08ea1';
      const created = await post(
        '/api/3.0/mlflow/traces',
        startTraceBody({ traceId: failing, state: 'ERROR', executionDuration: '0s', requestPreview: '', responsePreview: '', tags: {} }),
      );
      expect(created.statusCode).toBe(200);
      expect((await putSpans(failing, failingTracesJsonText(failing))).statusCode).toBe(200);
      const info = (await get(`/api/3.0/mlflow/traces/${failing}`)).json().trace.trace_info;
      expect(info.state).toBe('ERROR');
      expect(info.execution_duration).toBe('0s');
      const spans = JSON.parse((await get(tracesJsonPath(failing))).body).spans;
      expect(spans[0].status).toEqual({ code: 'STATUS_CODE_ERROR', message: 'boom' });
      expect(spans[0].events[0].attributes['exception.message']).toBe('boom');
    });

    it('accepts the Python SDK form of span attributes (JSON-encoded values)', async () => {
      const id = newTraceId();
      await post('/api/3.0/mlflow/traces', startTraceBody({ traceId: id }));
      expect((await putSpans(id, pythonTracesJsonText(id))).statusCode).toBe(200);
      const spans = JSON.parse((await get(tracesJsonPath(id))).body).spans;
      // Decoded once on the way in and encoded once on the way out: not double-encoded.
      expect(spans[0].attributes['mlflow.spanInputs']).toBe('{"q":"hi"}');
      expect(spans[0].attributes['mlflow.spanType']).toBe('"CHAIN"');
    });

    it('serves the same API under /ajax-api/', async () => {
      const res = await get(`/ajax-api/3.0/mlflow/traces/${traceId}`);
      expect(res.statusCode).toBe(200);
      expect(res.json().trace.trace_info.trace_id).toBe(traceId);
    });
  });

  describe('metadata is immutable, tags are not', () => {
    const traceId = newTraceId();
    const body = startTraceBody({ traceId, user: 'u-imm', session: 's-imm', metadata: { k: 'v' } });

    it('accepts an identical repeat (a retry) and counts the trace once', async () => {
      expect((await post('/api/3.0/mlflow/traces', body)).statusCode).toBe(200);
      const before = await snapshot(traceId);
      const again = await post('/api/3.0/mlflow/traces', body);
      expect(again.statusCode).toBe(200);
      expect(await snapshot(traceId)).toEqual(before);
      const session = before.sessions.find((s) => s.session_id === 's-imm');
      expect(Number(session?.trace_count)).toBe(1);
    });

    it('refuses a repeat with different metadata, naming the key, and changes nothing', async () => {
      const before = await snapshot(traceId);
      const changed = startTraceBody({ traceId, user: 'someone-else', session: 's-imm', metadata: { k: 'v' } });
      const res = await post('/api/3.0/mlflow/traces', changed);
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe('INVALID_PARAMETER_VALUE');
      expect(res.json().message).toContain('mlflow.trace.user');
      expect(await snapshot(traceId)).toEqual(before);
    });

    it('accepts a repeat that leaves metadata keys out, and changes nothing', async () => {
      const before = await snapshot(traceId);
      const res = await post('/api/3.0/mlflow/traces', startTraceBody({ traceId, user: 'u-imm', session: 's-imm' }));
      expect(res.statusCode).toBe(200);
      expect(res.json().trace.trace_info.trace_metadata.k).toBe('v');
      expect(await snapshot(traceId)).toEqual(before);
    });

    it('refuses a repeat that adds a metadata key', async () => {
      const before = await snapshot(traceId);
      const res = await post('/api/3.0/mlflow/traces', startTraceBody({ traceId, user: 'u-imm', session: 's-imm', metadata: { k: 'v', extra: '1' } }));
      expect(res.statusCode).toBe(400);
      expect(await snapshot(traceId)).toEqual(before);
    });

    it('refuses the same trace id in another experiment with 409', async () => {
      const exp = (await post('/api/2.0/mlflow/experiments/create', { name: 'other-exp' })).json().experiment_id;
      const before = await snapshot(traceId);
      const res = await post('/api/3.0/mlflow/traces', startTraceBody({ traceId, experimentId: exp, user: 'u-imm', session: 's-imm', metadata: { k: 'v' } }));
      expect(res.statusCode).toBe(409);
      expect(res.json().error_code).toBe('RESOURCE_CONFLICT');
      expect(await snapshot(traceId)).toEqual(before);
    });

    it('sets, overwrites and deletes tags on the V3 and V2 paths', async () => {
      const patch = (url: string, payload: unknown) => t.app.inject({ method: 'PATCH', url, headers: JSON_HEADERS, payload: payload as string });
      expect((await patch(`/api/3.0/mlflow/traces/${traceId}/tags`, { key: 'env', value: 'prod' })).statusCode).toBe(200);
      expect((await patch(`/api/2.0/mlflow/traces/${traceId}/tags`, { key: 'env', value: 'staging' })).statusCode).toBe(200);
      expect((await get(`/api/3.0/mlflow/traces/${traceId}`)).json().trace.trace_info.tags.env).toBe('staging');
      const del = await t.app.inject({ method: 'DELETE', url: `/api/3.0/mlflow/traces/${traceId}/tags`, headers: JSON_HEADERS, payload: { key: 'env' } });
      expect(del.statusCode).toBe(200);
      expect(del.json()).toEqual({});
      expect((await get(`/api/3.0/mlflow/traces/${traceId}`)).json().trace.trace_info.tags.env).toBeUndefined();
      const again = await t.app.inject({ method: 'DELETE', url: `/api/2.0/mlflow/traces/${traceId}/tags`, headers: JSON_HEADERS, payload: { key: 'env' } });
      expect(again.statusCode).toBe(404);
    });

    it('renames the trace through the mlflow.traceName tag', async () => {
      const patch = await t.app.inject({
        method: 'PATCH',
        url: `/api/3.0/mlflow/traces/${traceId}/tags`,
        headers: JSON_HEADERS,
        payload: { key: 'mlflow.traceName', value: 'renamed' },
      });
      expect(patch.statusCode).toBe(200);
      const row = await t.store.db.selectFrom('traces').select('name').where('trace_id', '=', traceId).executeTakeFirstOrThrow();
      expect(row.name).toBe('renamed');
    });
  });

  describe('reads', () => {
    const ids = [newTraceId(), newTraceId()];
    beforeAll(async () => {
      for (const id of ids) {
        await post('/api/3.0/mlflow/traces', startTraceBody({ traceId: id, user: 'reader' }));
        await putSpans(id, tracesJsonText(id));
      }
    });

    it('batchGetInfos returns the infos asked for and skips unknown ids', async () => {
      const res = await post('/api/3.0/mlflow/traces/batchGetInfos', { trace_ids: [...ids, 'tr-00000000000000000000000000000000'] });
      expect(res.statusCode).toBe(200);
      expect(res.json().trace_infos.map((i: { trace_id: string }) => i.trace_id)).toEqual(ids);
    });

    it('batchGet returns infos with spans, ids as repeated query parameters', async () => {
      const res = await get(`/api/3.0/mlflow/traces/batchGet?trace_ids=${ids[0]}&trace_ids=${ids[1]}`);
      expect(res.statusCode).toBe(200);
      const traces = JSON.parse(res.body).traces;
      expect(traces).toHaveLength(2);
      expect(traces[1].spans).toHaveLength(2);
    });

    it('serves the legacy V2 trace info with lists of key/value pairs', async () => {
      const res = await get(`/api/2.0/mlflow/traces/${ids[0]}/info`);
      expect(res.statusCode).toBe(200);
      const info = res.json().trace_info;
      expect(info.request_id).toBe(ids[0]);
      expect(info.timestamp_ms).toBe(Date.parse('2026-11-23T19:51:26.775Z'));
      expect(info.execution_time_ms).toBe(2);
      expect(info.request_metadata).toContainEqual({ key: 'mlflow.trace.user', value: 'reader' });
    });

    it('serves the UI trace artifact endpoint', async () => {
      const res = await get(`/ajax-api/2.0/mlflow/get-trace-artifact?request_id=${ids[0]}`);
      expect(res.statusCode).toBe(200);
      expect(JSON.parse(res.body).spans).toHaveLength(2);
    });

    it('answers /health with OK', async () => {
      const res = await get('/health');
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe('OK');
    });
  });

  describe('delete-traces', () => {
    it('deletes by ids and by age, oldest first, and keeps the rollups right', async () => {
      const exp = (await post('/api/2.0/mlflow/experiments/create', { name: 'deletions' })).json().experiment_id;
      const ids = Array.from({ length: 5 }, () => newTraceId());
      for (const [i, id] of ids.entries()) {
        await post(
          '/api/3.0/mlflow/traces',
          startTraceBody({ traceId: id, experimentId: exp, session: 'del-s', user: 'del-u', requestTime: new Date(1_000_000 + i * 1000).toISOString() }),
        );
      }
      const byIds = await post('/api/3.0/mlflow/traces/delete-traces', { experiment_id: exp, request_ids: [ids[4]] });
      expect(byIds.json()).toEqual({ traces_deleted: 1 });
      const byAge = await post('/api/2.0/mlflow/traces/delete-traces', { experiment_id: exp, max_timestamp_millis: 1_003_000, max_traces: 2 });
      expect(byAge.json()).toEqual({ traces_deleted: 2 });
      for (const [i, id] of ids.entries()) {
        expect((await get(`/api/3.0/mlflow/traces/${id}`)).statusCode).toBe(i === 2 || i === 3 ? 200 : 404);
      }
      const session = await t.store.db.selectFrom('sessions').selectAll().where('session_id', '=', 'del-s').executeTakeFirstOrThrow();
      expect(Number(session.trace_count)).toBe(2);
      expect(session.first_trace_id).toBe(ids[2]);
      expect(session.last_trace_id).toBe(ids[3]);
      const user = await t.store.db.selectFrom('users').selectAll().where('user_id', '=', 'del-u').executeTakeFirstOrThrow();
      expect(Number(user.trace_count)).toBe(2);
      expect(Number(user.session_count)).toBe(1);
    });
  });

  describe('bad input gets MLflow error bodies and changes nothing', () => {
    const stored = newTraceId();
    let before: Awaited<ReturnType<typeof snapshot>>;
    beforeAll(async () => {
      await post('/api/3.0/mlflow/traces', startTraceBody({ traceId: stored, user: 'bad-input', session: 'bad-s' }));
      await putSpans(stored, tracesJsonText(stored));
      before = await snapshot(stored);
    });

    const cases: [string, () => ReturnType<typeof post>, number, string][] = [
      ['malformed JSON', () => t.app.inject({ method: 'POST', url: '/api/3.0/mlflow/traces', headers: JSON_HEADERS, payload: '{"trace": {' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['no trace_info', () => post('/api/3.0/mlflow/traces', { trace: {} }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a body that is a list', () => post('/api/3.0/mlflow/traces', [1, 2]), 400, 'INVALID_PARAMETER_VALUE'],
      ['a trace id with a slash', () => post('/api/3.0/mlflow/traces', startTraceBody({ traceId: 'tr-1/../2' })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a trace id with a space', () => post('/api/3.0/mlflow/traces', startTraceBody({ traceId: 'tr 1' })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a trace id starting with a dot', () => post('/api/3.0/mlflow/traces', startTraceBody({ traceId: '.hidden' })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a trace id longer than 64', () => post('/api/3.0/mlflow/traces', startTraceBody({ traceId: 'a'.repeat(65) })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a metadata value of the wrong type', () => post('/api/3.0/mlflow/traces', withInfo({ trace_metadata: { n: 5 } })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a tag value of the wrong type', () => post('/api/3.0/mlflow/traces', withInfo({ tags: { n: true } })), 400, 'INVALID_PARAMETER_VALUE'],
      ['an unknown state', () => post('/api/3.0/mlflow/traces', withInfo({ state: 'DONE' })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a bad request_time', () => post('/api/3.0/mlflow/traces', withInfo({ request_time: 'yesterday' })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a bad execution_duration', () => post('/api/3.0/mlflow/traces', withInfo({ execution_duration: '5 minutes' })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a location that is not an experiment', () => post('/api/3.0/mlflow/traces', withInfo({ trace_location: { type: 'INFERENCE_TABLE' } })), 400, 'INVALID_PARAMETER_VALUE'],
      ['an unknown experiment', () => post('/api/3.0/mlflow/traces', startTraceBody({ traceId: newTraceId(), experimentId: '987654' })), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['a metadata value too long', () => post('/api/3.0/mlflow/traces', withInfo({ trace_metadata: { k: 'x'.repeat(8001) } })), 400, 'INVALID_PARAMETER_VALUE'],
      ['spans for an unknown trace', () => putSpans('tr-ffffffffffffffffffffffffffffffff', tracesJsonText('tr-ffffffffffffffffffffffffffffffff')), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['spans under the wrong experiment', () => putSpans(stored, tracesJsonText(stored), '1234'), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['spans that are not a list', () => putSpans(stored, '{"spans": 5}'), 400, 'INVALID_PARAMETER_VALUE'],
      ['spans of another trace', () => putSpans(stored, tracesJsonText('tr-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee')), 400, 'INVALID_PARAMETER_VALUE'],
      ['a span without a start time', () => putSpans(stored, `{"spans":[{"span_id":"8MA1SDFQpsg=","name":"x","status":{}}]}`), 400, 'INVALID_PARAMETER_VALUE'],
      ['a span id of the wrong length', () => putSpans(stored, `{"spans":[{"span_id":"AAAA","name":"x","start_time_unix_nano":1,"status":{}}]}`), 400, 'INVALID_PARAMETER_VALUE'],
      ['an unknown span status', () => putSpans(stored, `{"spans":[{"span_id":"8MA1SDFQpsg=","name":"x","start_time_unix_nano":1,"status":{"code":"FINE"}}]}`), 400, 'INVALID_PARAMETER_VALUE'],
      ['an artifact other than traces.json', () => t.app.inject({ method: 'PUT', url: '/api/2.0/mlflow-artifacts/artifacts/0/model.pkl', payload: '{}', headers: JSON_HEADERS }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an unknown trace', () => get('/api/3.0/mlflow/traces/tr-00000000000000000000000000000000'), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['traces/get without an id', () => get('/api/3.0/mlflow/traces/get'), 400, 'INVALID_PARAMETER_VALUE'],
      ['batchGetInfos without ids', () => post('/api/3.0/mlflow/traces/batchGetInfos', {}), 400, 'INVALID_PARAMETER_VALUE'],
      ['batchGetInfos with ids of the wrong type', () => post('/api/3.0/mlflow/traces/batchGetInfos', { trace_ids: [1] }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a tag without a key', () => t.app.inject({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${stored}/tags`, headers: JSON_HEADERS, payload: { value: 'x' } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a tag value that is a number', () => t.app.inject({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${stored}/tags`, headers: JSON_HEADERS, payload: { key: 'k', value: 5 } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a tag value too long', () => t.app.inject({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${stored}/tags`, headers: JSON_HEADERS, payload: { key: 'k', value: 'x'.repeat(8001) } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a tag on an unknown trace', () => t.app.inject({ method: 'PATCH', url: '/api/3.0/mlflow/traces/tr-00000000000000000000000000000000/tags', headers: JSON_HEADERS, payload: { key: 'k', value: 'v' } }), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['delete-traces with both ids and a timestamp', () => post('/api/3.0/mlflow/traces/delete-traces', { experiment_id: '0', request_ids: [stored], max_timestamp_millis: 1 }), 400, 'INVALID_PARAMETER_VALUE'],
      ['delete-traces with neither', () => post('/api/3.0/mlflow/traces/delete-traces', { experiment_id: '0' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['delete-traces with max_traces alone', () => post('/api/3.0/mlflow/traces/delete-traces', { experiment_id: '0', request_ids: [stored], max_traces: 1 }), 400, 'INVALID_PARAMETER_VALUE'],
      ['delete-traces with a bad experiment id', () => post('/api/3.0/mlflow/traces/delete-traces', { experiment_id: 'zero', request_ids: [stored] }), 400, 'INVALID_PARAMETER_VALUE'],
      ['delete-traces in an unknown experiment', () => post('/api/3.0/mlflow/traces/delete-traces', { experiment_id: '424242', request_ids: [stored] }), 404, 'RESOURCE_DOES_NOT_EXIST'],
    ];

    function withInfo(overrides: Record<string, unknown>) {
      const body = startTraceBody({ traceId: newTraceId() }) as { trace: { trace_info: Record<string, unknown> } };
      Object.assign(body.trace.trace_info, overrides);
      return body;
    }

    it.each(cases)('%s', async (_name, send, status, errorCode) => {
      const res = await send();
      expect(res.statusCode).toBe(status);
      expect(res.json()).toEqual({ error_code: errorCode, message: expect.any(String) });
      expect(res.json().message.length).toBeGreaterThan(10);
      expect(await snapshot(stored)).toEqual(before);
    });

    it('answers an unknown route with 404 and a JSON body', async () => {
      const res = await get('/api/3.0/mlflow/nothing-here');
      expect(res.statusCode).toBe(404);
      expect(res.json().error_code).toBe('ENDPOINT_NOT_FOUND');
    });
  });
});

describe('request size limit', () => {
  it('answers 413 with an MLflow error body past the limit, and stores nothing', async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    const app = await createApp({ store, bodyLimitBytes: 10_000 });
    const traceId = newTraceId();
    const res = await app.inject({
      method: 'POST',
      url: '/api/3.0/mlflow/traces',
      headers: JSON_HEADERS,
      payload: JSON.stringify(startTraceBody({ traceId, metadata: { big: 'x'.repeat(20_000) } })),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json().error_code).toBe('BAD_REQUEST');
    expect(await store.getTrace(traceId)).toBeUndefined();
    await app.close();
    await store.close();
  });
});
