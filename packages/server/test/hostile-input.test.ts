import { describe, expect, it } from 'vitest';
import { jsonDepthExceeds } from '../src/json.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody, tracesJsonPath } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest, tableCounts } from './support/otlp-payloads.js';
import { JSON_HEADERS, useTestApp } from './support/test-app.js';

/**
 * Bad input is a 4xx that changes nothing, the same on both stores: JSON nested deeply enough
 * to overflow recursive code (a stack overflow was a 500), and NUL characters (PostgreSQL
 * refused them with a 500, SQLite stored them).
 */
const deepArray = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

/** One span of `traces.json`, with raw JSON text for its inputs and events. */
const spanText = (traceId: string, { name = 'root', inputs = '"q"', events = '[]' } = {}) =>
  `{"spans":[{"trace_id":"x","span_id":"8MA1SDFQpsg=","parent_span_id":"","name":${JSON.stringify(name)},` +
  `"start_time_unix_nano":1795463486775000000,"end_time_unix_nano":1795463486777000000,"status":{"code":"STATUS_CODE_OK","message":""},` +
  `"attributes":{"mlflow.traceRequestId":"${traceId}","mlflow.spanType":"CHAIN","mlflow.spanInputs":${inputs},"mlflow.spanOutputs":"a"},"events":${events}}]}`;

describe('jsonDepthExceeds', () => {
  it('counts nesting outside strings only', () => {
    expect(jsonDepthExceeds('[[1]]', 2)).toBe(false);
    expect(jsonDepthExceeds('[[[1]]]', 2)).toBe(true);
    expect(jsonDepthExceeds('["[[[[", {"a": "\\"[[["}]', 2)).toBe(false);
    expect(jsonDepthExceeds(deepArray(100_000))).toBe(true);
  });
});

describeEachDatabase('hostile input', (database) => {
  const t = useTestApp(database);
  const put = (url: string, payload: string) => t.app.inject({ method: 'PUT', url, headers: JSON_HEADERS, payload });
  const postText = (url: string, payload: string, contentType = 'application/json') => t.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });
  const logInfo = async (traceId: string) => expect((await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, session: 's', user: 'u' }))).statusCode).toBe(200);

  it('answers JSON nested 100,000 levels deep with a 400 on every way in, and stores nothing', async () => {
    const traceId = newTraceId();
    await logInfo(traceId);
    const before = await tableCounts(t.store);
    const info = JSON.stringify(startTraceBody({ traceId: newTraceId() })).replace('"trace_metadata":{', `"trace_metadata":{"deep":${deepArray(100_000)},`);
    const replies = [
      await postText('/api/3.0/mlflow/traces', info),
      await put(tracesJsonPath(traceId), spanText(traceId, { inputs: deepArray(100_000) })),
      await put(tracesJsonPath(traceId), spanText(traceId, { events: `[{"name":"e","time_unix_nano":1,"attributes":{"a":${deepArray(100_000)}}}]` })),
      await postText('/api/3.0/mlflow/traces/search', `{"filter":${deepArray(100_000)}}`),
    ];
    for (const reply of replies) {
      expect(reply.statusCode, reply.body).toBe(400);
      expect(reply.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/more than 512 levels deep/) });
    }
    const deepValue = '{"arrayValue":{"values":['.repeat(1000) + '{"intValue":1}' + ']}}'.repeat(1000);
    const otlp = await postText('/v1/traces', `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"${hexTraceId()}","spanId":"${hexSpanId()}","name":"n","startTimeUnixNano":"1","attributes":[{"key":"k","value":${deepValue}}]}]}]}]}`);
    expect(otlp.statusCode, otlp.body).toBe(400);
    expect(otlp.json()).toMatchObject({ code: 3 });
    // Below the JSON limit but past the AnyValue limit: the same 400, from the decoder.
    const nestedValue = '{"arrayValue":{"values":['.repeat(100) + '{"intValue":1}' + ']}}'.repeat(100);
    const nested = await postText('/v1/traces', JSON.stringify(otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId() }])).replace('"attributes":[]', `"attributes":[{"key":"k","value":${nestedValue}}]`));
    expect(nested.statusCode, nested.body).toBe(400);
    expect(nested.json().message).toMatch(/more than 64 levels deep/);
    expect(await tableCounts(t.store)).toEqual(before);
  });

  it('keeps a deeply nested JSON string as the string it is, and serves the trace back', async () => {
    const traceId = newTraceId();
    await logInfo(traceId);
    const text = deepArray(100_000);
    expect((await put(tracesJsonPath(traceId), spanText(traceId, { inputs: JSON.stringify(text) }))).statusCode).toBe(200);
    const reply = await t.get(tracesJsonPath(traceId));
    expect(reply.statusCode).toBe(200);
    // Served as MLflow serves attributes, JSON-encoded: the value is the string that was sent.
    expect(JSON.parse(reply.json().spans[0].attributes['mlflow.spanInputs'])).toBe(text);
  });

  it('refuses a NUL character in ids, names, tags, metadata and parameters with a 400 that changes nothing', async () => {
    const traceId = newTraceId();
    await logInfo(traceId);
    const before = await tableCounts(t.store);
    const replies = [
      await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: newTraceId(), user: 'a\u0000b' })),
      await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: newTraceId(), metadata: { 'k\u0000': 'v' } })),
      await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: newTraceId(), tags: { k: 'v\u0000' } })),
      await put(tracesJsonPath(traceId), spanText(traceId, { name: 'n\u0000' })),
      await t.app.inject({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${traceId}/tags`, headers: JSON_HEADERS, payload: JSON.stringify({ key: 'k', value: 'v\u0000' }) }),
      await t.post('/api/2.0/mlflow/experiments/create', { name: 'e\u0000' }),
      await t.get('/api/2.0/mlflow/experiments/get-by-name?experiment_name=e%00'),
      await t.post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }], filter: "tags.k = 'v\u0000'" }),
    ];
    for (const reply of replies) {
      expect(reply.statusCode, reply.body).toBe(400);
      expect(reply.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/NUL character/) });
    }
    expect(await tableCounts(t.store)).toEqual(before);
  });

  it('keeps a NUL character in content exactly and shows it as U+FFFD in previews', async () => {
    const traceId = newTraceId();
    expect((await t.post('/api/3.0/mlflow/traces', { trace: { trace_info: { ...(startTraceBody({ traceId }).trace as { trace_info: object }).trace_info, request_preview: 'hi\u0000there', response_preview: null } } })).statusCode).toBe(200);
    expect((await put(tracesJsonPath(traceId), spanText(traceId, { inputs: '"bytes\\u0000here"' }))).statusCode).toBe(200);
    expect((await t.get(`/api/3.0/mlflow/traces/${traceId}`)).json().trace.trace_info.request_preview).toBe('hi\uFFFDthere');
    expect(JSON.parse((await t.get(tracesJsonPath(traceId))).json().spans[0].attributes['mlflow.spanInputs'])).toBe('bytes\u0000here');

    // OTLP: the trace whose session holds a NUL is refused as a partial success; the others are stored.
    const good = hexTraceId();
    const otlp = await postText(
      '/v1/traces',
      JSON.stringify(otlpRequest([
        { traceId: hexTraceId(), spanId: hexSpanId(), attributes: { 'session.id': 's\u0000' } },
        { traceId: good, spanId: hexSpanId(), attributes: { 'session.id': 's-ok', 'mlflow.spanInputs': '"x\u0000y"' } },
      ])),
    );
    expect(otlp.statusCode, otlp.body).toBe(200);
    expect(otlp.json()).toMatchObject({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringMatching(/NUL character/) } });
    expect((await t.store.getTrace(`tr-${good}`))?.sessionId).toBe('s-ok');
  });
});
