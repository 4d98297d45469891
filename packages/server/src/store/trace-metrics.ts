import { sql, type Kysely } from 'kysely';
import type { Database } from './schema.js';

/** What the metrics endpoint asks of the store; times in milliseconds, `bucketMs` already checked. */
export interface TraceMetricsQuery {
  experimentId: string;
  startTimeMs: number;
  endTimeMs: number;
  bucketMs: number;
  /** Only one user's or one session's traces. */
  userId?: string;
  sessionId?: string;
  groupBy?: 'user' | 'session';
  maxGroups?: number;
}

export interface TraceMetricsBucket {
  index: number;
  traces: number;
  errors: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  latencyP99Ms: number | null;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

export interface TraceMetricsGroup {
  key: string;
  traces: number;
  errors: number;
  totalTokens: number;
  series: { traces: number; errors: number; totalTokens: number }[];
}

export interface TraceMetrics {
  buckets: TraceMetricsBucket[];
  groups?: TraceMetricsGroup[];
}

/**
 * Upper bounds (ms, exclusive) of the latency histogram: 1 ms to ~20 min in steps of 20%. SQL
 * has no portable percentile, and sorting every duration of a busy range would read it all into
 * memory: counting per (time bucket, latency bin) keeps the result small at any size, and a
 * percentile read off bins 20% wide is within 10% of the exact one.
 */
const LATENCY_BOUNDS_MS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let b = 1; b < 1_200_000; b *= 1.2) bounds.push(Math.round(b * 1000) / 1000);
  return bounds;
})();

/**
 * Traces of one experiment and time range counted per time bucket: traces, errors, tokens,
 * latency percentiles, and optionally the same per busiest user or session. One grouped scan of
 * the range on the (experiment_id, request_time) index (three with groups); no trace row leaves
 * the database.
 */
export async function queryTraceMetrics(db: Kysely<Database>, q: TraceMetricsQuery): Promise<TraceMetrics> {
  const count = Math.ceil((q.endTimeMs - q.startTimeMs) / q.bucketMs);
  const experimentId = Number(q.experimentId);
  const bucket = sql<number>`CAST((request_time - ${sql.lit(q.startTimeMs)}) / ${sql.lit(q.bucketMs)} AS BIGINT)`;
  const inRange = sql`experiment_id = ${experimentId} AND request_time >= ${sql.lit(q.startTimeMs)} AND request_time < ${sql.lit(q.endTimeMs)}${
    q.userId !== undefined ? sql` AND user_id = ${q.userId}` : sql``
  }${q.sessionId !== undefined ? sql` AND session_id = ${q.sessionId}` : sql``}`;

  // One pass: rows per (time bucket, latency bin) carry the bucket's counts and token sums too;
  // bin -1 holds traces without a duration (still running).
  const bin = sql.raw(
    `CASE WHEN execution_duration IS NULL THEN -1 ${LATENCY_BOUNDS_MS.map((bound, i) => `WHEN execution_duration < ${bound} THEN ${i}`).join(' ')} ELSE ${LATENCY_BOUNDS_MS.length} END`,
  );
  const rows = await sql<{ b: number | string; l: number | string; n: number | string; e: number | string; it: number | string | null; ot: number | string | null; tt: number | string | null }>`
    SELECT ${bucket} AS b, ${bin} AS l, COUNT(*) AS n, SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END) AS e,
      SUM(input_tokens) AS it, SUM(output_tokens) AS ot, SUM(total_tokens) AS tt
    FROM traces WHERE ${inRange} GROUP BY ${bucket}, ${bin}`.execute(db);

  const buckets: TraceMetricsBucket[] = Array.from({ length: count }, (_, index) => ({
    index, traces: 0, errors: 0, latencyP50Ms: null, latencyP95Ms: null, latencyP99Ms: null, inputTokens: 0, outputTokens: 0, totalTokens: 0,
  }));
  const bins = new Map<number, number[]>();
  for (const row of rows.rows) {
    const index = Number(row.b);
    const b = buckets[index];
    if (!b) continue;
    b.traces += Number(row.n);
    b.errors += Number(row.e);
    b.inputTokens += Number(row.it ?? 0);
    b.outputTokens += Number(row.ot ?? 0);
    b.totalTokens += Number(row.tt ?? 0);
    const l = Number(row.l);
    if (l < 0) continue;
    let counts = bins.get(index);
    if (!counts) bins.set(index, (counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0)));
    counts[l] = Number(row.n);
  }
  for (const [index, counts] of bins) {
    const b = buckets[index]!;
    b.latencyP50Ms = percentileOfBins(counts, 0.5);
    b.latencyP95Ms = percentileOfBins(counts, 0.95);
    b.latencyP99Ms = percentileOfBins(counts, 0.99);
  }

  if (!q.groupBy) return { buckets };
  const column = sql.ref(q.groupBy === 'user' ? 'user_id' : 'session_id');
  const top = await sql<{ k: string; n: number | string; e: number | string; tt: number | string | null }>`
    SELECT ${column} AS k, COUNT(*) AS n, SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END) AS e, SUM(total_tokens) AS tt
    FROM traces WHERE ${inRange} AND ${column} IS NOT NULL
    GROUP BY ${column} ORDER BY COUNT(*) DESC, ${column} LIMIT ${sql.lit(q.maxGroups ?? 8)}`.execute(db);
  const groups: TraceMetricsGroup[] = top.rows.map((row) => ({
    key: row.k,
    traces: Number(row.n),
    errors: Number(row.e),
    totalTokens: Number(row.tt ?? 0),
    series: Array.from({ length: count }, () => ({ traces: 0, errors: 0, totalTokens: 0 })),
  }));
  if (groups.length > 0) {
    const byKey = new Map(groups.map((g) => [g.key, g]));
    const series = await sql<{ k: string; b: number | string; n: number | string; e: number | string; tt: number | string | null }>`
      SELECT ${column} AS k, ${bucket} AS b, COUNT(*) AS n, SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END) AS e, SUM(total_tokens) AS tt
      FROM traces WHERE ${inRange} AND ${column} IN (${sql.join(groups.map((g) => g.key))})
      GROUP BY ${column}, ${bucket}`.execute(db);
    for (const row of series.rows) {
      const point = byKey.get(row.k)?.series[Number(row.b)];
      if (!point) continue;
      point.traces = Number(row.n);
      point.errors = Number(row.e);
      point.totalTokens = Number(row.tt ?? 0);
    }
  }
  return { buckets, groups };
}

/** The q-quantile of a histogram over LATENCY_BOUNDS_MS, interpolated inside its bin. */
export function percentileOfBins(counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i] ?? 0;
    if (n > 0 && seen + n >= rank) {
      const low = i === 0 ? 0 : LATENCY_BOUNDS_MS[i - 1]!;
      const high = LATENCY_BOUNDS_MS[i] ?? low * 1.2;
      return Math.round((low + ((rank - seen) / n) * (high - low)) * 10) / 10;
    }
    seen += n;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}
