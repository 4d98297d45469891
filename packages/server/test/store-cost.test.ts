import { calcPrice } from '@pydantic/genai-prices';
import { beforeAll, expect, it } from 'vitest';
import { traceKeysOf } from '../src/store/trace-rows.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest, type SpanSpec } from './support/otlp-payloads.js';
import { recountedRollups, storedRollups } from './support/rollup-recount.js';
import { useTestApp } from './support/test-app.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 3, 10);
/** Fixed prices for models the bundled table cannot know, so that every expected cost is exact. */
const PRICES = [
  { model: 'acme-large', inputPerMtok: 2, outputPerMtok: 8, cacheReadPerMtok: 0.5, cacheWritePerMtok: null },
  { model: 'acme-small', inputPerMtok: 0.1, outputPerMtok: 0.4, cacheReadPerMtok: null, cacheWritePerMtok: null },
];
const nanos = (usd: number) => Math.round(usd * 1e9);

/** An LLM call over OTLP, with GenAI semantic-convention attributes. */
const call = (traceId: string, parentSpanId: string | undefined, model: string, input: number, output: number, extra: Record<string, unknown> = {}, startMs = T0): SpanSpec => ({
  traceId,
  spanId: hexSpanId(),
  ...(parentSpanId ? { parentSpanId } : {}),
  name: `chat ${model}`,
  startMs,
  attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': model, 'gen_ai.system': 'acme', 'gen_ai.usage.input_tokens': input, 'gen_ai.usage.output_tokens': output, ...extra },
});

/**
 * Cost per LLM span, trace, session, user, hour and model: priced from the operator's prices,
 * the bundled table or the span's own cost, summed exactly (integer nano-dollars) through the
 * MLflow REST and OTLP ways in, re-logs, deletes and re-pricing, and equal to a recount.
 */
describeEachDatabase('cost', (database) => {
  const t = useTestApp(database);
  let experiment = '';
  const otlp = async (spans: SpanSpec[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json', 'x-mlflow-experiment-id': experiment }, payload: JSON.stringify(otlpRequest(spans)) });
    expect(res.statusCode, res.body).toBe(200);
  };
  const root = (traceId: string, session: string, user: string, startMs = T0): SpanSpec => ({ traceId, spanId: hexSpanId(), name: 'turn', startMs, endMs: startMs + 50, attributes: { 'session.id': session, 'user.id': user } });
  const traceRow = async (traceId: string) => t.store.db.selectFrom('traces').select(['cost_nanos', 'unpriced_calls']).where('trace_id', '=', traceId).executeTakeFirstOrThrow();
  const expectExact = async () => expect(await storedRollups(t.store.db, Number(experiment))).toEqual(await recountedRollups(t.store.db, Number(experiment)));

  beforeAll(async () => {
    experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: `cost-${newTraceId()}` })).json().experiment_id;
    for (const p of PRICES) await t.store.pricing.set({ ...p, updatedTimeMs: T0, updatedBy: 'test' });
  });

  it("prices a call from the operator's price and sums it into trace, session, user, hour and model", async () => {
    const id = hexTraceId();
    const top = root(id, 's-1', 'u-1');
    await otlp([top, call(id, top.spanId, 'acme-large', 1000, 500, { 'gen_ai.usage.cache_read.input_tokens': 400 })]);
    // 600 uncached input at $2, 400 cached at $0.5, 500 output at $8 (per million).
    const expected = nanos((600 * 2 + 400 * 0.5 + 500 * 8) / 1e6);
    expect(await traceRow(`tr-${id}`)).toMatchObject({ unpriced_calls: 0 });
    expect(Number((await traceRow(`tr-${id}`)).cost_nanos)).toBe(expected);
    const session = (await t.post('/api/threadline/sessions/search', { experiment_id: experiment, filter: "session_id = 's-1'" })).json().sessions[0];
    expect(session.cost).toBeCloseTo(expected / 1e9, 12);
    await expectExact();
  });

  it("answers MLflow's mlflow.trace.cost metadata and each span's mlflow.llm.cost", async () => {
    const id = hexTraceId();
    const top = root(id, 's-2', 'u-1');
    await otlp([top, call(id, top.spanId, 'acme-small', 10_000, 1_000)]);
    const res = await t.get(`/api/3.0/mlflow/traces/tr-${id}`);
    const info = res.json().trace.trace_info;
    expect(JSON.parse(info.trace_metadata['mlflow.trace.cost'])).toEqual({ input_cost: 0.001, output_cost: 0.0004, total_cost: 0.0014 });
  });

  it("prefers the span's own cost, uses the bundled table for known models, and counts unknown models as unpriced", async () => {
    const id = hexTraceId();
    const top = root(id, 's-3', 'u-2');
    const table = call(id, top.spanId, 'gpt-4o-mini', 2000, 300, { 'gen_ai.system': 'openai' });
    await otlp([
      top,
      call(id, top.spanId, 'acme-large', 1000, 1000, { 'gen_ai.usage.cost': 0.25 }),
      table,
      call(id, top.spanId, 'my-private-model', 50, 50),
    ]);
    const fromTable = calcPrice({ input_tokens: 2000, output_tokens: 300 }, 'gpt-4o-mini', { providerId: 'openai' })!.total_price;
    const row = await traceRow(`tr-${id}`);
    expect(Number(row.cost_nanos)).toBe(nanos(0.25) + nanos(fromTable));
    expect(Number(row.unpriced_calls)).toBe(1);
    const calls = await t.store.db.selectFrom('llm_calls').select(['model', 'cost_source']).where('trace_key', '=', traceKeysOf(t.store.db, `tr-${id}`)).orderBy('model').execute();
    expect(calls).toEqual([
      { model: 'acme-large', cost_source: 'span' },
      { model: 'gpt-4o-mini', cost_source: 'table' },
      { model: 'my-private-model', cost_source: null },
    ]);
    await expectExact();
  });

  it('counts an aggregate once: a call whose descendant is a call stays out, also when the descendant comes later', async () => {
    const id = hexTraceId();
    const top = root(id, 's-4', 'u-2');
    // An agent span reporting its calls' total usage, as some frameworks do, typed as a model span.
    const agent = { ...call(id, top.spanId, 'acme-large', 3000, 3000), name: 'agent', attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'acme-large', 'gen_ai.usage.input_tokens': 3000, 'gen_ai.usage.output_tokens': 3000 } };
    await otlp([top, agent]);
    expect(Number((await traceRow(`tr-${id}`)).cost_nanos)).toBe(nanos((3000 * 2 + 3000 * 8) / 1e6));
    // Its real call arrives in a later batch: the agent's usage is now the aggregate.
    await otlp([call(id, agent.spanId, 'acme-small', 3000, 3000)]);
    expect(Number((await traceRow(`tr-${id}`)).cost_nanos)).toBe(nanos((3000 * 0.1 + 3000 * 0.4) / 1e6));
    await expectExact();
  });

  it('prices spans uploaded after an MLflow trace info, and takes cost back out on delete', async () => {
    const traceId = newTraceId();
    const start = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, experimentId: experiment, session: 's-5', user: 'u-3', requestTime: new Date(T0 + HOUR).toISOString() }));
    expect(start.statusCode, start.body).toBe(200);
    expect((await traceRow(traceId)).cost_nanos).toBeNull();
    const startNs = BigInt(T0 + HOUR) * 1_000_000n;
    const upload = {
      spans: [
        { trace_id: 'x', span_id: 'AAAAAAAAAAE=', parent_span_id: '', name: 'root', start_time_unix_nano: String(startNs), end_time_unix_nano: String(startNs + 5_000_000n), status: { code: 'STATUS_CODE_OK' }, attributes: { 'mlflow.traceRequestId': traceId, 'mlflow.spanType': 'CHAIN' }, events: [] },
        {
          trace_id: 'x', span_id: 'AAAAAAAAAAI=', parent_span_id: 'AAAAAAAAAAE=', name: 'llm', start_time_unix_nano: String(startNs + 1_000_000n), end_time_unix_nano: String(startNs + 4_000_000n), status: { code: 'STATUS_CODE_OK' },
          attributes: { 'mlflow.traceRequestId': traceId, 'mlflow.spanType': 'LLM', 'mlflow.llm.model': 'acme-small', 'mlflow.llm.provider': 'acme', 'mlflow.chat.tokenUsage': { input_tokens: 100_000, output_tokens: 10_000, total_tokens: 110_000 } },
          events: [],
        },
      ],
    };
    const put = await t.app.inject({ method: 'PUT', url: `/api/2.0/mlflow-artifacts/artifacts/${experiment}/traces/${traceId}/artifacts/traces.json`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(upload) });
    expect(put.statusCode, put.body).toBe(200);
    expect(Number((await traceRow(traceId)).cost_nanos)).toBe(nanos(0.01 + 0.004));
    await expectExact();
    const { trace_key: traceKey } = await traceKeysOf(t.store.db, traceId).executeTakeFirstOrThrow();
    expect(await t.store.db.selectFrom('llm_calls').select('span_id').where('trace_key', '=', traceKey).execute()).toHaveLength(1);
    const deleted = await t.post('/api/3.0/mlflow/traces/delete-traces', { experiment_id: experiment, request_ids: [traceId] });
    expect(deleted.statusCode, deleted.body).toBe(200);
    expect(await t.store.db.selectFrom('llm_calls').select('span_id').where('trace_key', '=', traceKey).execute()).toEqual([]);
    await expectExact();
  });

  it('re-prices a time range with a changed price, keeping every rollup exact', async () => {
    const id = hexTraceId();
    const top = root(id, 's-6', 'u-4', T0 + 2 * HOUR);
    await otlp([top, call(id, top.spanId, 'acme-small', 1_000_000, 0, {}, T0 + 2 * HOUR)]);
    expect(Number((await traceRow(`tr-${id}`)).cost_nanos)).toBe(nanos(0.1));
    await t.store.pricing.set({ ...PRICES[1]!, inputPerMtok: 0.3, updatedTimeMs: T0, updatedBy: 'test' });
    // Logged before the change and not re-priced: the old price stays.
    expect(Number((await traceRow(`tr-${id}`)).cost_nanos)).toBe(nanos(0.1));
    const priced = await t.store.pricing.reprice({ experimentId: experiment, fromMs: T0 + 2 * HOUR, toMs: T0 + 3 * HOUR, batchSize: 1 });
    expect(priced).toBe(1);
    expect(Number((await traceRow(`tr-${id}`)).cost_nanos)).toBe(nanos(0.3));
    await expectExact();
    // The whole experiment at today's prices, twice: the second changes nothing.
    await t.store.pricing.reprice({ experimentId: experiment, fromMs: 0, toMs: T0 + 10 * HOUR, batchSize: 2 });
    const once = await storedRollups(t.store.db, Number(experiment));
    await t.store.pricing.reprice({ experimentId: experiment, fromMs: 0, toMs: T0 + 10 * HOUR });
    expect(await storedRollups(t.store.db, Number(experiment))).toEqual(once);
    await expectExact();
    await t.store.pricing.set({ ...PRICES[1]!, updatedTimeMs: T0, updatedBy: 'test' });
  });

  it('charts cost per hour and per model, each adding up to the traces\' cost', async () => {
    const range = { experiment_id: experiment, start_time_ms: T0 - HOUR, end_time_ms: T0 + 5 * HOUR, bucket_ms: HOUR };
    const traces = await t.post('/api/threadline/traces/metrics', range);
    expect(traces.statusCode, traces.body).toBe(200);
    const byModel = await t.post('/api/threadline/models/metrics', { ...range, max_models: 2 });
    expect(byModel.statusCode, byModel.body).toBe(200);
    const stored = await t.store.db.selectFrom('traces').select((eb) => eb.fn.sum<number>('cost_nanos').as('c')).where('experiment_id', '=', Number(experiment)).executeTakeFirstOrThrow();
    const total = Number(stored.c) / 1e9;
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    expect(sum(traces.json().buckets.map((b: { cost: number }) => b.cost))).toBeCloseTo(total, 12);
    const models = byModel.json().models as { model: string; cost: number; calls: number; unpriced_calls: number; series: { cost: number }[] }[];
    // The two most expensive, then the rest as one.
    // acme-small's 1M input tokens re-priced at $0.30 outweigh acme-large's $0.25 call and the rest.
    expect(models.map((m) => m.model)).toEqual(['acme-small', 'acme-large', '(other)']);
    expect(sum(models.map((m) => m.cost))).toBeCloseTo(total, 12);
    expect(sum(models.map((m) => m.unpriced_calls))).toBe(1);
    for (const m of models) expect(sum(m.series.map((p) => p.cost))).toBeCloseTo(m.cost, 12);
  });
});
