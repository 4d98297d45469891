import { beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest, type SpanSpec } from './support/otlp-payloads.js';
import { useTestApp } from './support/test-app.js';

const T0 = Date.UTC(2026, 10, 3, 10);

interface ServedSpan {
  name: string;
  attributes: { key: string; value: { string_value: string } }[];
}

/** Each span's `mlflow.llm.cost`, decoded, by span name; spans without one left out. */
const costsByName = (spans: ServedSpan[]): Record<string, unknown> =>
  Object.fromEntries(spans.flatMap((s) => s.attributes.filter((a) => a.key === 'mlflow.llm.cost').map((a) => [s.name, JSON.parse(a.value.string_value)])));

/**
 * The trace endpoints the UI reads (get, batchGet) serve each counted LLM call's cost on its span
 * as `mlflow.llm.cost`; a span's own cost is left as logged, and the `traces.json` artifact stays
 * exactly as logged.
 */
describeEachDatabase('span cost in served spans', (database) => {
  const t = useTestApp(database);
  let experiment = '';
  const priced = hexTraceId();
  const unpriced = hexTraceId();
  const ownCost = JSON.stringify({ total_cost: 0.5 });

  const otlp = async (spans: SpanSpec[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json', 'x-mlflow-experiment-id': experiment }, payload: JSON.stringify(otlpRequest(spans)) });
    expect(res.statusCode, res.body).toBe(200);
  };
  const call = (traceId: string, parentSpanId: string, name: string, model: string, input: number, output: number, extra: Record<string, unknown> = {}): SpanSpec => ({
    traceId,
    spanId: hexSpanId(),
    parentSpanId,
    name,
    startMs: T0 + 1,
    attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': model, 'gen_ai.system': 'acme', 'gen_ai.usage.input_tokens': input, 'gen_ai.usage.output_tokens': output, ...extra },
  });

  beforeAll(async () => {
    experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: `span-cost-${newTraceId()}` })).json().experiment_id;
    await t.store.pricing.set({ model: 'acme-small', inputPerMtok: 0.1, outputPerMtok: 0.4, cacheReadPerMtok: null, cacheWritePerMtok: null, updatedTimeMs: T0, updatedBy: 'test' });
    const root: SpanSpec = { traceId: priced, spanId: hexSpanId(), name: 'turn', startMs: T0, endMs: T0 + 50 };
    // An agent span reporting its calls' total: an aggregate, not counted, so no cost of its own here.
    const agent = call(priced, root.spanId, 'agent', 'acme-small', 20_000, 2_000);
    await otlp([
      root,
      agent,
      call(priced, agent.spanId, 'priced', 'acme-small', 10_000, 1_000),
      call(priced, root.spanId, 'own gen_ai cost', 'acme-small', 1, 1, { 'gen_ai.usage.cost': 0.25 }),
      call(priced, root.spanId, 'own mlflow cost', 'acme-small', 1, 1, { 'mlflow.llm.cost': ownCost }),
      call(priced, root.spanId, 'unknown model', 'my-private-model', 50, 50),
    ]);
    const other: SpanSpec = { traceId: unpriced, spanId: hexSpanId(), name: 'turn', startMs: T0, endMs: T0 + 50 };
    await otlp([other, call(unpriced, other.spanId, 'unknown model', 'my-private-model', 50, 50)]);
  });

  it('adds each counted call its cost, with parts when priced from tokens, and keeps a span its own', async () => {
    const res = await t.get(`/api/3.0/mlflow/traces/get?trace_id=tr-${priced}`);
    expect(res.statusCode, res.body).toBe(200);
    const spans = res.json().trace.spans as ServedSpan[];
    expect(costsByName(spans)).toEqual({
      priced: { input_cost: 0.001, output_cost: 0.0004, total_cost: 0.0014 },
      'own gen_ai cost': { total_cost: 0.25 },
      'own mlflow cost': { total_cost: 0.5 },
    });
    expect(spans.find((s) => s.name === 'own mlflow cost')!.attributes.filter((a) => a.key === 'mlflow.llm.cost')).toHaveLength(1);
    // The span costs add up to the trace's.
    expect(JSON.parse(res.json().trace.trace_info.trace_metadata['mlflow.trace.cost']).total_cost).toBeCloseTo(0.0014 + 0.25 + 0.5, 12);
  });

  it('adds them in a batch read too, and nothing to a trace without a priced call', async () => {
    const res = await t.get(`/api/3.0/mlflow/traces/batchGet?trace_ids=tr-${unpriced}&trace_ids=tr-${priced}`);
    expect(res.statusCode, res.body).toBe(200);
    const [first, second] = res.json().traces as { spans: ServedSpan[] }[];
    expect(costsByName(first!.spans)).toEqual({});
    expect(costsByName(second!.spans)).toMatchObject({ priced: { total_cost: 0.0014 } });
  });

  it('leaves the traces.json artifact as logged', async () => {
    const res = await t.get(`/api/2.0/mlflow/get-trace-artifact?request_id=tr-${priced}`);
    expect(res.statusCode, res.body).toBe(200);
    const spans = JSON.parse(res.body).spans as { name: string; attributes: Record<string, unknown> }[];
    expect(spans.filter((s) => 'mlflow.llm.cost' in s.attributes).map((s) => s.name)).toEqual(['own mlflow cost']);
  });
});
