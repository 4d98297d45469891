import { sql, type Kysely, type RawBuilder } from 'kysely';
import { queryMetricGroups } from './metric-groups.js';
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
  /** Which groups are the top ones: the most traces (default) or the highest cost. */
  orderGroupsBy?: 'traces' | 'cost';
  /** With `groupBy`: only the groups; the buckets of all traces are not counted (answered empty). */
  groupsOnly?: boolean;
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
  /** Nano-dollars. */
  costNanos: number;
}

export interface TraceMetricsGroup {
  key: string;
  traces: number;
  errors: number;
  totalTokens: number;
  costNanos: number;
  series: { traces: number; errors: number; totalTokens: number; costNanos: number }[];
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
 *
 * `trace_hours` stores counts by bin index: changing these bounds needs a migration that
 * rebuilds it.
 */
const LATENCY_BOUNDS_MS: readonly number[] = (() => {
  const bounds: number[] = [];
  for (let b = 1; b < 1_200_000; b *= 1.2) bounds.push(Math.round(b * 1000) / 1000);
  return bounds;
})();

/** The hour a trace is counted in by `trace_hours`. */
export const HOUR_MS = 3_600_000;

/** Start of the hour of a time in ms, as SQL's integer `t - t % HOUR` computes it. */
export function hourOf(timeMs: number): number {
  return timeMs - (timeMs % HOUR_MS);
}

/** A trace's latency bin; -1 for a trace without a duration (still running). */
export function latencyBin(durationMs: number | null): number {
  if (durationMs === null) return -1;
  let low = 0;
  let high = LATENCY_BOUNDS_MS.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (durationMs < LATENCY_BOUNDS_MS[mid]!) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** `latencyBin` in SQL, over a column of milliseconds. */
export function latencyBinSql(column: string): RawBuilder<number> {
  return sql.raw<number>(
    `CASE WHEN ${column} IS NULL THEN -1 ${LATENCY_BOUNDS_MS.map((bound, i) => `WHEN ${column} < ${bound} THEN ${i}`).join(' ')} ELSE ${LATENCY_BOUNDS_MS.length} END`,
  );
}

/** Counts, errors and token sums of one (time bucket, latency bin). */
interface HistogramRow {
  b: number | string;
  l: number | string;
  n: number | string;
  e: number | string;
  it: number | string | null;
  ot: number | string | null;
  tt: number | string | null;
  c: number | string | null;
}

/**
 * Traces of one experiment and time range counted per time bucket: traces, errors, tokens,
 * latency percentiles, and optionally the same per busiest user or session.
 *
 * Without a user or session, and with buckets of an hour or more, every hour that lies whole in
 * one bucket is read from the `trace_hours` rollup (a month is ~720 hours' rows, whatever the
 * traffic); only the hours a bucket boundary or the range's ends cut through are scanned (none
 * when the range and buckets fall on whole hours, as the overview's relative ranges do). Otherwise
 * one grouped scan of the range on the (experiment_id, request_time) index, or the user's or
 * session's index; no trace row leaves the database. Groups read `user_hours` / `session_hours`
 * the same way (metric-groups.ts). `rollups: false` forces the
 * scan, which the tests hold the rollup against.
 */
export interface TraceMetricsOptions {
  /** False: scan the traces, never the rollups (what the tests hold the rollups against). */
  rollups?: boolean;
}

export async function queryTraceMetrics(db: Kysely<Database>, q: TraceMetricsQuery, options: TraceMetricsOptions = {}): Promise<TraceMetrics> {
  const count = Math.ceil((q.endTimeMs - q.startTimeMs) / q.bucketMs);
  const experimentId = Number(q.experimentId);
  const bucketOf = (time: RawBuilder<unknown>) => sql<number>`CAST((${time} - ${sql.lit(q.startTimeMs)}) / ${sql.lit(q.bucketMs)} AS BIGINT)`;
  const bucket = bucketOf(sql`request_time`);
  const inRange = (from: number, to: number) =>
    sql`experiment_id = ${experimentId} AND request_time >= ${sql.lit(from)} AND request_time < ${sql.lit(to)}${
      q.userId !== undefined ? sql` AND user_id = ${q.userId}` : sql``
    }${q.sessionId !== undefined ? sql` AND session_id = ${q.sessionId}` : sql``}`;
  // Bin -1 holds traces without a duration (still running).
  const scan = (from: number, to: number) =>
    sql<HistogramRow>`
      SELECT ${bucket} AS b, ${latencyBinSql('execution_duration')} AS l, COUNT(*) AS n, SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END) AS e,
        SUM(input_tokens) AS it, SUM(output_tokens) AS ot, SUM(total_tokens) AS tt, SUM(cost_nanos) AS c
      FROM traces WHERE ${inRange(from, to)} GROUP BY ${bucket}, ${latencyBinSql('execution_duration')}`.execute(db);

  const cut = (options.rollups ?? true) && q.userId === undefined && q.sessionId === undefined && q.bucketMs >= HOUR_MS ? cutHours(q, count) : undefined;
  if (q.groupBy && q.groupsOnly) return { buckets: [], groups: await groupsOf(db, q, q.groupBy, cut, count, options) };
  const parts = cut
    ? [
        // Hours inside the range whose first and last millisecond fall in the same bucket.
        sql<HistogramRow>`
          SELECT ${bucketOf(sql`hour_start`)} AS b, latency_bin AS l, SUM(trace_count) AS n, SUM(error_count) AS e,
            SUM(input_tokens) AS it, SUM(output_tokens) AS ot, SUM(total_tokens) AS tt, SUM(cost_nanos) AS c
          FROM trace_hours WHERE experiment_id = ${experimentId} AND hour_start >= ${sql.lit(q.startTimeMs)} AND hour_start <= ${sql.lit(q.endTimeMs - HOUR_MS)}
            AND ${bucketOf(sql`hour_start`)} = ${bucketOf(sql`hour_start + ${sql.lit(HOUR_MS - 1)}`)}
          GROUP BY ${bucketOf(sql`hour_start`)}, latency_bin`.execute(db),
        ...cut.map(([from, to]) => scan(from, to)),
      ]
    : [scan(q.startTimeMs, q.endTimeMs)];
  const rows = (await Promise.all(parts)).flatMap((r) => r.rows);

  const buckets: TraceMetricsBucket[] = Array.from({ length: count }, (_, index) => ({
    index, traces: 0, errors: 0, latencyP50Ms: null, latencyP95Ms: null, latencyP99Ms: null, inputTokens: 0, outputTokens: 0, totalTokens: 0, costNanos: 0,
  }));
  const bins = new Map<number, number[]>();
  for (const row of rows) {
    const index = Number(row.b);
    const b = buckets[index];
    if (!b) continue;
    b.traces += Number(row.n);
    b.errors += Number(row.e);
    b.inputTokens += Number(row.it ?? 0);
    b.outputTokens += Number(row.ot ?? 0);
    b.totalTokens += Number(row.tt ?? 0);
    b.costNanos += Number(row.c ?? 0);
    const l = Number(row.l);
    if (l < 0) continue;
    let counts = bins.get(index);
    if (!counts) bins.set(index, (counts = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0)));
    counts[l]! += Number(row.n);
  }
  for (const [index, counts] of bins) {
    const b = buckets[index]!;
    b.latencyP50Ms = percentileOfBins(counts, 0.5);
    b.latencyP95Ms = percentileOfBins(counts, 0.95);
    b.latencyP99Ms = percentileOfBins(counts, 0.99);
  }

  if (!q.groupBy) return { buckets };
  return { buckets, groups: await groupsOf(db, q, q.groupBy, cut, count, options) };
}

function groupsOf(db: Kysely<Database>, q: TraceMetricsQuery, groupBy: 'user' | 'session', cut: [number, number][] | undefined, count: number, options: TraceMetricsOptions) {
  // The hours the buckets cut are scanned for the groups too; without a cut plan (buckets under
  // an hour, or too many cut hours), the whole range is.
  const parts = cut ? { hours: true, scans: cut } : { hours: false, scans: [[q.startTimeMs, q.endTimeMs] as [number, number]] };
  return queryMetricGroups(db, { ...q, groupBy }, parts, count, { rollups: options.rollups ?? true });
}

/** Past this many cut hours, scanning the range is simpler than reading around them. */
const MAX_CUT_HOURS = 64;

/**
 * The parts of the range, as [from, to) ms, in hours that a bucket boundary or an end of the
 * range falls inside: their traces must be counted one by one. Undefined when there are so many
 * that one scan of the range is the better plan.
 */
function cutHours(q: TraceMetricsQuery, count: number): [number, number][] | undefined {
  const cut: [number, number][] = [];
  for (let k = 0; k <= count; k++) {
    const boundary = Math.min(q.startTimeMs + k * q.bucketMs, q.endTimeMs);
    if (boundary % HOUR_MS === 0) continue;
    const from = Math.max(hourOf(boundary), q.startTimeMs);
    const to = Math.min(hourOf(boundary) + HOUR_MS, q.endTimeMs);
    const last = cut.at(-1);
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else cut.push([from, to]);
    if (cut.length > MAX_CUT_HOURS) return undefined;
  }
  return cut;
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
