import { describe, expect, it } from 'vitest';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody, tracesJsonPath, tracesJsonText, type TraceInfoOptions } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest } from './support/otlp-payloads.js';
import { JSON_HEADERS, useTestApp } from './support/test-app.js';

/**
 * A finished trace cannot be rewritten over the MLflow API: a re-log of its info that would change
 * its state, times or previews, and a span upload that would replace a stored span, are refused
 * with 409 RESOURCE_CONFLICT and change nothing; the SDK's identical retries succeed and change
 * nothing; tags stay editable.
 */
describeEachDatabase('a finished trace over the MLflow API', (database) => {
  const t = useTestApp(database);
  const putSpans = (traceId: string, body: string) => t.app.inject({ method: 'PUT', url: tracesJsonPath(traceId), headers: JSON_HEADERS, payload: body });

  /** Everything the server holds that a rewrite could change: the trace, its spans, every rollup. */
  const snapshot = async (traceId: string) => ({
    info: (await t.get(`/api/3.0/mlflow/traces/${traceId}`)).body,
    spans: (await t.get(tracesJsonPath(traceId))).body,
    sessions: await t.store.db.selectFrom('sessions').selectAll().orderBy('session_id').execute(),
    users: await t.store.db.selectFrom('users').selectAll().orderBy('user_id').execute(),
    links: await t.store.db.selectFrom('session_users').selectAll().orderBy('session_id').orderBy('user_id').execute(),
    hours: await t.store.db.selectFrom('trace_hours').selectAll().orderBy('hour_start').orderBy('latency_bin').orderBy('shard').execute(),
  });

  /** A trace logged as the TypeScript SDK does: its info (finished, OK), then its spans. */
  const finishedTrace = async (o: Partial<TraceInfoOptions> = {}) => {
    const options: TraceInfoOptions = { traceId: newTraceId(), user: 'u-fin', session: 's-fin', clientRequestId: 'req-fin', ...o };
    expect((await t.post('/api/3.0/mlflow/traces', startTraceBody(options))).statusCode).toBe(200);
    expect((await putSpans(options.traceId, tracesJsonText(options.traceId))).statusCode).toBe(200);
    return options;
  };

  const expectRefused = async (traceId: string, res: { statusCode: number; json(): { error_code: string; message: string } }, field: string, before: unknown) => {
    expect(res.statusCode).toBe(409);
    expect(res.json().error_code).toBe('RESOURCE_CONFLICT');
    expect(res.json().message).toContain(`'${field}'`);
    expect(await snapshot(traceId)).toEqual(before);
  };

  describe('its info', () => {
    it('accepts an identical retry of both calls and changes nothing', async () => {
      const options = await finishedTrace();
      const before = await snapshot(options.traceId);
      expect((await t.post('/api/3.0/mlflow/traces', startTraceBody(options))).statusCode).toBe(200);
      expect((await putSpans(options.traceId, tracesJsonText(options.traceId))).statusCode).toBe(200);
      expect(await snapshot(options.traceId)).toEqual(before);
    });

    it('refuses a change of state from OK to ERROR', async () => {
      const options = await finishedTrace();
      const before = await snapshot(options.traceId);
      await expectRefused(options.traceId, await t.post('/api/3.0/mlflow/traces', startTraceBody({ ...options, state: 'ERROR' })), 'state', before);
    });

    it('refuses a moved request_time', async () => {
      const options = await finishedTrace();
      const before = await snapshot(options.traceId);
      const moved = startTraceBody({ ...options, requestTime: '2026-11-23T21:00:00.000Z' });
      await expectRefused(options.traceId, await t.post('/api/3.0/mlflow/traces', moved), 'request_time', before);
    });

    it('refuses a changed preview or duration, naming each field', async () => {
      const options = await finishedTrace();
      const before = await snapshot(options.traceId);
      const changed = startTraceBody({ ...options, requestPreview: 'another question', responsePreview: 'another answer', executionDuration: '9s' });
      const res = await t.post('/api/3.0/mlflow/traces', changed);
      await expectRefused(options.traceId, res, 'request_preview', before);
      expect(res.json().message).toContain("'response_preview'");
      expect(res.json().message).toContain("'execution_duration'");
    });

    it('refuses the whole re-log, its tags too, but lets the tag endpoints and a retry change tags', async () => {
      const options = await finishedTrace();
      const before = await snapshot(options.traceId);
      await expectRefused(options.traceId, await t.post('/api/3.0/mlflow/traces', startTraceBody({ ...options, state: 'ERROR', tags: { fruit: 'plum' } })), 'state', before);
      expect((await t.post('/api/3.0/mlflow/traces', startTraceBody({ ...options, tags: { fruit: 'pear' } }))).statusCode).toBe(200);
      const patched = await t.app.inject({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${options.traceId}/tags`, headers: JSON_HEADERS, payload: { key: 'reviewed', value: 'yes' } });
      expect(patched.statusCode).toBe(200);
      const info = (await t.get(`/api/3.0/mlflow/traces/${options.traceId}`)).json().trace.trace_info;
      expect(info.tags).toMatchObject({ fruit: 'pear', reviewed: 'yes' });
      expect(info.state).toBe('OK');
    });

    it('lets a trace logged IN_PROGRESS finish, at another time', async () => {
      const traceId = newTraceId();
      const started = startTraceBody({ traceId, user: 'u-fin', session: 's-fin' });
      (started.trace as { trace_info: Record<string, unknown> }).trace_info.state = 'IN_PROGRESS';
      expect((await t.post('/api/3.0/mlflow/traces', started)).statusCode).toBe(200);
      const finished = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, user: 'u-fin', session: 's-fin', state: 'ERROR', requestTime: '2026-11-23T20:00:00.000Z' }));
      expect(finished.statusCode).toBe(200);
      expect(finished.json().trace.trace_info).toMatchObject({ state: 'ERROR', request_time: '2026-11-23T20:00:00.000Z' });
    });
  });

  describe('its spans', () => {
    it('refuses an upload that would replace a stored span, and changes nothing', async () => {
      const options = await finishedTrace();
      const before = await snapshot(options.traceId);
      const res = await putSpans(options.traceId, tracesJsonText(options.traceId, '1795463486775000999'));
      expect(res.statusCode).toBe(409);
      expect(res.json().error_code).toBe('RESOURCE_CONFLICT');
      // Span ids in the message are the stored hex form of the uploaded base64 ids.
      expect(res.json().message).toContain(`'${Buffer.from('8MA1SDFQpsg=', 'base64').toString('hex')}'`);
      expect(await snapshot(options.traceId)).toEqual(before);
    });

    it('adds new spans to stored ones, repeated exactly', async () => {
      const options = await finishedTrace();
      const late =
        `{"trace_id":"x","span_id":"AAAAAAAAAAE=","parent_span_id":"8MA1SDFQpsg=","name":"late","start_time_unix_nano":1795463486776000000,` +
        `"end_time_unix_nano":1795463486777000000,"status":{"code":"STATUS_CODE_OK","message":""},"attributes":{},"events":[]}`;
      const body = tracesJsonText(options.traceId).replace(/\]\}$/, `,${late}]}`);
      expect((await putSpans(options.traceId, body)).statusCode).toBe(200);
      const spans = JSON.parse((await t.get(tracesJsonPath(options.traceId))).body).spans as { name: string }[];
      expect(spans.map((s) => s.name).sort()).toEqual(['add', 'inner', 'late']);
      expect((await t.get(`/api/3.0/mlflow/traces/${options.traceId}`)).json().trace.trace_info.state).toBe('OK');
    });
  });

  it('reports an OTLP span resent with other content as rejected (partial success), and keeps the stored one', async () => {
    const traceId = hexTraceId();
    const spanId = hexSpanId();
    const send = (name: string) =>
      t.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(otlpRequest([{ traceId, spanId, name }])) });
    expect((await send('first')).json()).toEqual({});
    expect((await send('first')).json()).toEqual({});
    const rewritten = await send('second');
    expect(rewritten.statusCode).toBe(200);
    expect(rewritten.json()).toMatchObject({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringMatching(/differ from spans already stored/) } });
    expect((await t.store.getSpans(`tr-${traceId}`)).map((s) => JSON.parse(s.contentJson).name)).toEqual(['first']);
  });
});
