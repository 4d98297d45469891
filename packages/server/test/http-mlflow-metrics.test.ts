import { beforeAll, describe, expect, it } from 'vitest';
import { assessmentClient, expectation, feedback } from './support/assessments.js';
import { describeEachDatabase } from './support/databases.js';
import { startTraceBody, tracesJsonPath } from './support/mlflow-payloads.js';
import { JSON_HEADERS, useTestApp } from './support/test-app.js';

const URL = '/api/3.0/mlflow/traces/metrics';
const HOUR = 3_600_000;
/** A fixed hour, so that buckets are known: 2026-11-20T00:00Z. */
const T0 = Date.UTC(2026, 10, 20);
const bucket = (hours: number) => new Date(T0 + hours * HOUR).toISOString().replace('.000Z', '+00:00');
const MS = 1_000_000n;
const COUNT = [{ aggregation_type: 'COUNT' }];

interface SpanSpec {
  name: string;
  type: string;
  status: 'OK' | 'ERROR';
  /** Offsets from the trace's start, ms. */
  startMs: number;
  endMs: number;
  model?: string;
  provider?: string;
  /** The span's own `mlflow.llm.cost`, USD: [input, output]. */
  cost?: [number, number];
}

interface TraceSpec {
  id: string;
  name: string;
  /** Offset from T0, ms. */
  offsetMs: number;
  durationMs: number;
  state?: 'OK' | 'ERROR';
  session?: string;
  tokens?: [input: number, output: number, total: number];
  env?: string;
  spans?: SpanSpec[];
}

const id = (n: number) => `tr-${String(n).padStart(32, '0')}`;

/**
 * Five traces in [T0, T0 + 2h], one after the range and one in another experiment. Trace names
 * and every other string compared are lowercase letters, which sort alike on both databases.
 */
const TRACES: TraceSpec[] = [
  {
    id: id(1), name: 'chat', offsetMs: 0, durationMs: 100, session: 's1', tokens: [10, 5, 15], env: 'prod',
    spans: [
      { name: 'chat', type: 'CHAIN', status: 'OK', startMs: 0, endMs: 100 },
      { name: 'llm', type: 'LLM', status: 'OK', startMs: 10, endMs: 60, model: 'gpt', provider: 'openai', cost: [0.25, 0.5] },
    ],
  },
  { id: id(2), name: 'chat', offsetMs: 10 * 60_000, durationMs: 200, state: 'ERROR', session: 's1', tokens: [20, 10, 30], env: 'prod' },
  {
    id: id(3), name: 'chat', offsetMs: HOUR + 5, durationMs: 300, session: 's2', tokens: [30, 15, 45], env: 'dev',
    spans: [
      { name: 'chat', type: 'CHAIN', status: 'OK', startMs: 0, endMs: 300 },
      { name: 'llm', type: 'LLM', status: 'ERROR', startMs: 20, endMs: 140, model: 'gpt', provider: 'openai', cost: [0.125, 0.125] },
      { name: 'retrieve', type: 'RETRIEVER', status: 'OK', startMs: 150, endMs: 180 },
    ],
  },
  { id: id(4), name: 'search', offsetMs: HOUR + 6, durationMs: 1000, session: 's2' },
  {
    id: id(5), name: 'search', offsetMs: 2 * HOUR, durationMs: 400, session: 's3', tokens: [5, 5, 10],
    spans: [
      { name: 'search', type: 'CHAIN', status: 'OK', startMs: 0, endMs: 400 },
      { name: 'llm', type: 'LLM', status: 'OK', startMs: 100, endMs: 180, model: 'claude', provider: 'anthropic', cost: [1, 2] },
    ],
  },
  { id: id(6), name: 'chat', offsetMs: 5 * HOUR, durationMs: 50, session: 's4', tokens: [1, 1, 2] },
];

/** The spans of a trace as the Python SDK uploads them: attribute values JSON-encoded. */
function spansText(trace: TraceSpec): string {
  const encode = (v: unknown) => JSON.stringify(JSON.stringify(v));
  const startNs = BigInt(T0 + trace.offsetMs) * MS;
  const spans = trace.spans!.map((s, i) => {
    const attributes = [`"mlflow.traceRequestId":${encode(trace.id)}`, `"mlflow.spanType":${encode(s.type)}`];
    if (s.model) attributes.push(`"mlflow.llm.model":${encode(s.model)}`);
    if (s.provider) attributes.push(`"mlflow.llm.provider":${encode(s.provider)}`);
    if (s.cost) attributes.push(`"mlflow.llm.cost":${encode({ input_cost: s.cost[0], output_cost: s.cost[1], total_cost: s.cost[0] + s.cost[1] })}`);
    const spanId = Buffer.from(`span-00${i}`).toString('base64');
    const parent = i === 0 ? 'null' : `"${Buffer.from('span-000').toString('base64')}"`;
    return `{"trace_id":"AAAAAAAAAAAAAAAAAAAAAA==","span_id":"${spanId}","parent_span_id":${parent},"name":"${s.name}",` +
      `"start_time_unix_nano":${startNs + BigInt(s.startMs) * MS},"end_time_unix_nano":${startNs + BigInt(s.endMs) * MS},` +
      `"status":{"code":"STATUS_CODE_${s.status}","message":""},"attributes":{${attributes.join(',')}},"events":[]}`;
  });
  return `{"spans":[${spans.join(',')}]}`;
}

describeEachDatabase('POST /api/3.0/mlflow/traces/metrics', (database) => {
  const t = useTestApp(database);
  const assessments = assessmentClient(t);
  let experiment = '';
  /** The request for the range that holds traces 1 to 5. */
  let base: Record<string, unknown>;

  const query = async (body: Record<string, unknown>) => {
    const res = await t.post(URL, { ...base, ...body });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { data_points: { metric_name: string; dimensions: Record<string, string>; values: Record<string, number> }[]; next_page_token?: string };
  };
  const points = async (body: Record<string, unknown>) => (await query(body)).data_points.map((p) => [p.dimensions, p.values] as const);

  beforeAll(async () => {
    experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: 'metrics' })).json().experiment_id;
    base = { experiment_ids: [experiment], start_time_ms: T0, end_time_ms: T0 + 3 * HOUR };
    const log = async (trace: TraceSpec, experimentId: string) => {
      const body = startTraceBody({
        traceId: trace.id, experimentId, state: trace.state ?? 'OK',
        requestTime: new Date(T0 + trace.offsetMs).toISOString(), executionDuration: `${trace.durationMs / 1000}s`,
        tags: { 'mlflow.traceName': trace.name, ...(trace.env ? { env: trace.env } : {}) },
        ...(trace.session ? { session: trace.session } : {}),
        metadata: trace.tokens ? { 'mlflow.trace.tokenUsage': JSON.stringify({ input_tokens: trace.tokens[0], output_tokens: trace.tokens[1], total_tokens: trace.tokens[2] }) } : {},
      });
      const res = await t.post('/api/3.0/mlflow/traces', body);
      expect(res.statusCode, res.body).toBe(200);
      if (trace.spans) {
        const put = await t.app.inject({ method: 'PUT', url: tracesJsonPath(trace.id, experimentId), headers: JSON_HEADERS, payload: spansText(trace) });
        expect(put.statusCode, put.body).toBe(200);
      }
    };
    for (const trace of TRACES) await log(trace, experiment);
    // Another experiment's trace, in range, counts for nothing here.
    await log({ id: id(7), name: 'chat', offsetMs: 0, durationMs: 5, tokens: [100, 100, 200] }, '0');

    const rate = async (traceId: string, assessment: Record<string, unknown>, hour: number) => {
      const res = await assessments.create(traceId, { ...assessment, create_time: new Date(T0 + hour * HOUR).toISOString() });
      expect(res.statusCode, res.body).toBe(200);
      return res.json().assessment.assessment_id as string;
    };
    await rate(id(1), feedback('correctness', true), 0);
    await rate(id(1), feedback('relevance', 4), 0);
    await rate(id(2), feedback('correctness', false), 0);
    await rate(id(2), feedback('relevance', 2), 1);
    await rate(id(3), feedback('correctness', 'yes'), 1);
    await rate(id(3), feedback('relevance', 5), 1);
    await rate(id(3), expectation('expected', 'an answer'), 1);
    await rate(id(5), feedback('correctness', true), 2);
    // Overridden, so no longer valid: only the 3 that replaced it counts.
    const first = await rate(id(5), feedback('relevance', 1), 2);
    await rate(id(5), feedback('relevance', 3, { overrides: first }), 2);
    await rate(id(6), feedback('relevance', 1), 5);
  });

  describe('traces', () => {
    it('counts the traces of the range, in total and by status', async () => {
      const all = await query({ view_type: 'TRACES', metric_name: 'trace_count', aggregations: COUNT });
      expect(all).toEqual({ data_points: [{ metric_name: 'trace_count', dimensions: {}, values: { COUNT: 5 } }] });
      expect(await points({ metric_name: 'trace_count', aggregations: COUNT, dimensions: ['trace_status'] })).toEqual([
        [{ trace_status: 'ERROR' }, { COUNT: 1 }],
        [{ trace_status: 'OK' }, { COUNT: 4 }],
      ]);
    });

    it('includes both ends of the range, as MLflow does', async () => {
      const ending = await points({ end_time_ms: T0 + 2 * HOUR, metric_name: 'trace_count', aggregations: COUNT });
      expect(ending).toEqual([[{}, { COUNT: 5 }]]);
      const starting = await points({ start_time_ms: T0 + 2 * HOUR, metric_name: 'trace_count', aggregations: COUNT });
      expect(starting).toEqual([[{}, { COUNT: 1 }]]);
    });

    it('buckets by time (from the epoch, ISO times) and then by the dimensions asked', async () => {
      expect(await points({ metric_name: 'trace_count', aggregations: COUNT, dimensions: ['trace_name'], time_interval_seconds: 3600 })).toEqual([
        [{ time_bucket: bucket(0), trace_name: 'chat' }, { COUNT: 2 }],
        [{ time_bucket: bucket(1), trace_name: 'chat' }, { COUNT: 1 }],
        [{ time_bucket: bucket(1), trace_name: 'search' }, { COUNT: 1 }],
        [{ time_bucket: bucket(2), trace_name: 'search' }, { COUNT: 1 }],
      ]);
      expect(bucket(1)).toBe('2026-11-20T01:00:00+00:00');
    });

    it('sums and averages tokens, leaving out traces without any', async () => {
      expect(await points({ metric_name: 'total_tokens', aggregations: [{ aggregation_type: 'SUM' }], time_interval_seconds: '3600' })).toEqual([
        [{ time_bucket: bucket(0) }, { SUM: 45 }],
        [{ time_bucket: bucket(1) }, { SUM: 45 }],
        [{ time_bucket: bucket(2) }, { SUM: 10 }],
      ]);
      expect(await points({ metric_name: 'input_tokens', aggregations: [{ aggregation_type: 'AVG' }, { aggregation_type: 'SUM' }], dimensions: ['trace_name'] })).toEqual([
        [{ trace_name: 'chat' }, { AVG: 20, SUM: 60 }],
        [{ trace_name: 'search' }, { AVG: 5, SUM: 5 }],
      ]);
    });

    it('computes exact percentiles, interpolated linearly as numpy and MLflow do, labelled as Python prints the float', async () => {
      const latency = await points({
        metric_name: 'latency',
        aggregations: [
          { aggregation_type: 'AVG' },
          { aggregation_type: 'PERCENTILE', percentile_value: 50 },
          { aggregation_type: 4, percentile_value: 90 },
          { aggregation_type: 'PERCENTILE', percentile_value: '99.9' },
        ],
        dimensions: ['trace_name'],
      });
      expect(latency).toHaveLength(2);
      // chat: 100, 200, 300; search: 400, 1000.
      expect(latency[0]![0]).toEqual({ trace_name: 'chat' });
      expect(Object.keys(latency[0]![1])).toEqual(['AVG', 'P50.0', 'P90.0', 'P99.9']);
      expect(latency[0]![1].AVG).toBeCloseTo(200, 9);
      expect(latency[0]![1]['P50.0']).toBe(200);
      expect(latency[0]![1]['P90.0']).toBeCloseTo(280, 9);
      expect(latency[0]![1]['P99.9']).toBeCloseTo(299.8, 9);
      expect(latency[1]![0]).toEqual({ trace_name: 'search' });
      expect(latency[1]![1]['P50.0']).toBeCloseTo(700, 9);
      expect(latency[1]![1]['P90.0']).toBeCloseTo(940, 9);
      expect(latency[1]![1].AVG).toBeCloseTo(700, 9);
      // Without dimensions, one group of all five: 100, 200, 300, 400, 1000.
      const all = await points({ metric_name: 'latency', aggregations: [{ aggregation_type: 'PERCENTILE', percentile_value: 75 }, { aggregation_type: 'PERCENTILE', percentile_value: 0 }] });
      expect(all).toEqual([[{}, { 'P75.0': 400, 'P0.0': 100 }]]);
    });

    it('counts distinct sessions', async () => {
      expect(await points({ metric_name: 'session_count', aggregations: COUNT })).toEqual([[{}, { COUNT: 3 }]]);
      expect(await points({ metric_name: 'session_count', aggregations: COUNT, time_interval_seconds: 3600 })).toEqual([
        [{ time_bucket: bucket(0) }, { COUNT: 1 }],
        [{ time_bucket: bucket(1) }, { COUNT: 1 }],
        [{ time_bucket: bucket(2) }, { COUNT: 1 }],
      ]);
    });

    it("applies MLflow's metric filters: status, tags, metadata keys with dots, all of them", async () => {
      const count = async (filters: string[]) => (await points({ metric_name: 'trace_count', aggregations: COUNT, filters }))[0]![1].COUNT;
      expect(await count(['trace.status = "ERROR"'])).toBe(1);
      expect(await count(['trace.tag.env = "prod"'])).toBe(2);
      expect(await count(['trace.metadata.mlflow.trace.session = "s2"'])).toBe(2);
      expect(await count(['trace.tag.env = "prod"', 'trace.status = "OK"'])).toBe(1);
      // The trace filter language's other fields and operators, as an extension.
      expect(await count(["tag.env IN ('prod', 'dev')"])).toBe(3);
      expect(await count(['trace.status = "OK" AND NOT trace.tag.env = "prod"'])).toBe(3);
      expect(await count(['feedback.correctness = "yes"'])).toBe(1);
    });
  });

  describe('spans', () => {
    it('counts spans by type, by model (spans without one left out) and by time bucket', async () => {
      expect(await points({ view_type: 'SPANS', metric_name: 'span_count', aggregations: COUNT, dimensions: ['span_type'] })).toEqual([
        [{ span_type: 'CHAIN' }, { COUNT: 3 }],
        [{ span_type: 'LLM' }, { COUNT: 3 }],
        [{ span_type: 'RETRIEVER' }, { COUNT: 1 }],
      ]);
      expect(await points({ view_type: 2, metric_name: 'span_count', aggregations: COUNT, dimensions: ['span_model_name', 'span_status'] })).toEqual([
        [{ span_model_name: 'claude', span_status: 'OK' }, { COUNT: 1 }],
        [{ span_model_name: 'gpt', span_status: 'ERROR' }, { COUNT: 1 }],
        [{ span_model_name: 'gpt', span_status: 'OK' }, { COUNT: 1 }],
      ]);
      expect(await points({ view_type: 'SPANS', metric_name: 'span_count', aggregations: COUNT, time_interval_seconds: 3600, filters: ['span.status = "OK"'] })).toEqual([
        [{ time_bucket: bucket(0) }, { COUNT: 2 }],
        [{ time_bucket: bucket(1) }, { COUNT: 2 }],
        [{ time_bucket: bucket(2) }, { COUNT: 2 }],
      ]);
    });

    it("sums and averages the spans' cost by model, as MLflow reads mlflow.llm.cost", async () => {
      expect(await points({ view_type: 'SPANS', metric_name: 'total_cost', aggregations: [{ aggregation_type: 'SUM' }, { aggregation_type: 'AVG' }], dimensions: ['span_model_name'] })).toEqual([
        [{ span_model_name: 'claude' }, { SUM: 3, AVG: 3 }],
        [{ span_model_name: 'gpt' }, { SUM: 1, AVG: 0.5 }],
      ]);
      expect(await points({ view_type: 'SPANS', metric_name: 'input_cost', aggregations: [{ aggregation_type: 'SUM' }], dimensions: ['span_model_provider'] })).toEqual([
        [{ span_model_provider: 'anthropic' }, { SUM: 1 }],
        [{ span_model_provider: 'openai' }, { SUM: 0.375 }],
      ]);
    });

    it('aggregates the latency of the spans a span filter keeps, not of their traces', async () => {
      const llm = await points({
        view_type: 'SPANS', metric_name: 'latency', dimensions: ['span_name'], filters: ['span.type = "LLM"'],
        aggregations: [{ aggregation_type: 'AVG' }, { aggregation_type: 'PERCENTILE', percentile_value: 50 }],
      });
      // 50, 120 and 80 ms.
      expect(llm).toHaveLength(1);
      expect(llm[0]![0]).toEqual({ span_name: 'llm' });
      expect(llm[0]![1].AVG).toBeCloseTo(250 / 3, 9);
      expect(llm[0]![1]['P50.0']).toBe(80);
      const byProvider = await points({
        view_type: 'SPANS', metric_name: 'span_count', aggregations: COUNT, dimensions: ['span_model_provider'],
        filters: ['trace.tag.env = "prod" OR trace.status = "OK"', 'span.attributes.`mlflow.llm.model` = "claude"'],
      });
      expect(byProvider).toEqual([[{ span_model_provider: 'anthropic' }, { COUNT: 1 }]]);
    });
  });

  describe('assessments', () => {
    it('counts valid feedback and expectations by name and by value', async () => {
      expect(await points({ view_type: 'ASSESSMENTS', metric_name: 'assessment_count', aggregations: COUNT, dimensions: ['assessment_name'] })).toEqual([
        [{ assessment_name: 'correctness' }, { COUNT: 4 }],
        [{ assessment_name: 'expected' }, { COUNT: 1 }],
        [{ assessment_name: 'relevance' }, { COUNT: 4 }],
      ]);
      // Values as their JSON text; the overridden 1 is no longer valid.
      expect(await points({ view_type: 'ASSESSMENTS', metric_name: 'assessment_count', aggregations: COUNT, dimensions: ['assessment_value'], filters: ['assessment.name = "relevance"'] })).toEqual([
        [{ assessment_value: '2' }, { COUNT: 1 }],
        [{ assessment_value: '3' }, { COUNT: 1 }],
        [{ assessment_value: '4' }, { COUNT: 1 }],
        [{ assessment_value: '5' }, { COUNT: 1 }],
      ]);
      expect(await points({ view_type: 'ASSESSMENTS', metric_name: 'assessment_count', aggregations: COUNT, filters: ['assessment.type = "expectation"'] })).toEqual([[{}, { COUNT: 1 }]]);
    });

    it('reads values as numbers (true and "yes" as 1, false as 0) and leaves out names without any', async () => {
      expect(await points({
        view_type: 'ASSESSMENTS', metric_name: 'assessment_value', dimensions: ['assessment_name'],
        aggregations: [{ aggregation_type: 'AVG' }, { aggregation_type: 'PERCENTILE', percentile_value: 50 }],
      })).toEqual([
        [{ assessment_name: 'correctness' }, { AVG: 0.75, 'P50.0': 1 }],
        [{ assessment_name: 'relevance' }, { AVG: 3.5, 'P50.0': 3.5 }],
      ]);
    });

    it('buckets assessments by the time they were made', async () => {
      expect(await points({ view_type: 'ASSESSMENTS', metric_name: 'assessment_count', aggregations: COUNT, time_interval_seconds: 3600, filters: ['assessment.type = "feedback"'] })).toEqual([
        [{ time_bucket: bucket(0) }, { COUNT: 3 }],
        [{ time_bucket: bucket(1) }, { COUNT: 3 }],
        [{ time_bucket: bucket(2) }, { COUNT: 2 }],
      ]);
    });
  });

  it('pages by group, and the pages together are the whole answer', async () => {
    const body = { metric_name: 'trace_count', aggregations: COUNT, dimensions: ['trace_name'], time_interval_seconds: 3600 };
    const whole = await query(body);
    const first = await query({ ...body, max_results: 3 });
    expect(first.data_points).toEqual(whole.data_points.slice(0, 3));
    expect(first.next_page_token).toBeDefined();
    const second = await query({ ...body, max_results: 3, page_token: first.next_page_token });
    expect(second.data_points).toEqual(whole.data_points.slice(3));
    expect(second.next_page_token).toBeUndefined();
    const other = await t.post(URL, { ...base, ...body, dimensions: ['trace_status'], page_token: first.next_page_token });
    expect(other.statusCode).toBe(400);
    expect(other.json().message).toMatch(/^Invalid page token/);
  });

  it('answers under /ajax-api too, and is empty for an experiment without traces', async () => {
    const res = await t.post(`/ajax-api${URL.slice('/api'.length)}`, { ...base, metric_name: 'trace_count', aggregations: COUNT, dimensions: ['trace_name'] });
    expect(res.statusCode).toBe(200);
    expect(res.json().data_points).toHaveLength(2);
    const empty = await t.post('/api/2.0/mlflow/experiments/create', { name: 'no traces' });
    expect(await points({ experiment_ids: [empty.json().experiment_id], metric_name: 'trace_count', aggregations: COUNT, dimensions: ['trace_name'] })).toEqual([]);
  });

  it("refuses bad requests with a 400 and MLflow's error body and messages", async () => {
    const cases: [Record<string, unknown>, string | RegExp][] = [
      [{ metric_name: 'cost', aggregations: [{ aggregation_type: 'SUM' }] }, "metric_name must be one of ['trace_count', 'session_count', 'latency', 'input_tokens', 'output_tokens', 'total_tokens'], got 'cost'"],
      [{ metric_name: 'latency', aggregations: [{ aggregation_type: 'SUM' }, { aggregation_type: 'MAX' }] }, "Found invalid aggregation_type(s): ['MAX', 'SUM']. Supported aggregation types: ['AVG', 'PERCENTILE']"],
      [{ metric_name: 'latency', aggregations: [{ aggregation_type: 'AVG' }], dimensions: ['trace_status'] }, "Found invalid dimension(s): ['trace_status']. Supported dimensions: ['trace_name']"],
      [{ view_type: 'SPANS', metric_name: 'span_count', aggregations: COUNT, dimensions: ['trace_name'] }, "Found invalid dimension(s): ['trace_name']. Supported dimensions: ['span_model_name', 'span_model_provider', 'span_name', 'span_status', 'span_type']"],
      [{ start_time_ms: undefined, metric_name: 'trace_count', aggregations: COUNT, time_interval_seconds: 60 }, 'start_time_ms and end_time_ms are required if time_interval_seconds is set'],
      [{ metric_name: 'latency', aggregations: [{ aggregation_type: 'PERCENTILE' }] }, 'Percentile value is required for PERCENTILE aggregation'],
      [{ metric_name: 'latency', aggregations: [{ aggregation_type: 'PERCENTILE', percentile_value: 101 }] }, 'Percentile value must be between 0 and 100, got 101.0'],
      [{ metric_name: 'latency', aggregations: [{ aggregation_type: 'AVG', percentile_value: 50 }] }, 'Percentile value is only allowed for PERCENTILE aggregation type, got AVG'],
      [{ metric_name: 'trace_count', aggregations: COUNT, filters: ['span.type = "LLM"'] }, 'Filtering by span is only supported for SPANS view type, got TRACES'],
      [{ view_type: 'SPANS', metric_name: 'span_count', aggregations: COUNT, filters: ['assessment.name = "x"'] }, 'Filtering by assessment is only supported for ASSESSMENTS view type, got SPANS'],
      [{ metric_name: 'trace_count', aggregations: COUNT, filters: ['trace.status = '] }, /^Invalid filter: expected a value/],
      [{ view_type: 'LOGS', metric_name: 'trace_count', aggregations: COUNT }, /^Invalid value "LOGS" for parameter 'view_type'/],
      [{ metric_name: 'trace_count', aggregations: [{ aggregation_type: 'MEDIAN' }] }, /^Invalid value "MEDIAN" for parameter 'aggregations.aggregation_type'/],
      [{ metric_name: 'trace_count', aggregations: [] }, "Missing value for required parameter 'aggregations'."],
      [{ experiment_ids: [], metric_name: 'trace_count', aggregations: COUNT }, "Missing value for required parameter 'experiment_ids'."],
      [{ aggregations: COUNT }, "Missing value for required parameter 'metric_name'."],
      [{ metric_name: 'trace_count', aggregations: COUNT, max_results: 1001 }, /'max_results' supplied. It must be at most 1000/],
      [{ metric_name: 'trace_count', aggregations: COUNT, dimensions: ['trace_name'], page_token: 'not a token' }, /^Invalid page token/],
    ];
    for (const [body, message] of cases) {
      const res = await t.post(URL, { ...base, ...body });
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      const error = res.json();
      expect(Object.keys(error).sort()).toEqual(['error_code', 'message']);
      expect(error.error_code).toBe('INVALID_PARAMETER_VALUE');
      if (typeof message === 'string') expect(error.message).toBe(message);
      else expect(error.message).toMatch(message);
    }
  });
});
