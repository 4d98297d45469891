import { sql, type Kysely, type RawBuilder } from 'kysely';
import { keyHourTable } from './key-hours.js';
import type { Database } from './schema.js';
import { HOUR_MS, type TraceMetricsGroup, type TraceMetricsQuery } from './trace-metrics.js';

/** How the range is read: whole hours from the rollups, the rest from traces. */
export interface RangeParts {
  /** Read whole hours of `user_hours` / `session_hours` (each lies inside one bucket); false: scan everything. */
  hours: boolean;
  /** [from, to) ms ranges scanned from traces: the hours a bucket boundary cuts, or the whole range. */
  scans: [number, number][];
}

interface GroupRow {
  k: string;
  b?: number | string;
  n: number | string;
  e: number | string;
  tt: number | string | null;
  c: number | string | null;
}

/**
 * The range's busiest users or sessions (by traces, or by cost), `maxGroups` of them, each with
 * its totals and its series per bucket. Two statements: the totals of every key, summed over the
 * rollup's whole hours and the scanned parts, ranked and cut to the top keys in SQL (a month holds
 * ~100k session-hours at 1M traces: they never leave the database); then only those keys' series.
 */
export async function queryMetricGroups(db: Kysely<Database>, q: TraceMetricsQuery & { groupBy: 'user' | 'session' }, parts: RangeParts, count: number): Promise<TraceMetricsGroup[]> {
  const experimentId = Number(q.experimentId);
  const { table, column: name } = keyHourTable(q.groupBy);
  const column = sql.ref(name);
  const bucketOf = (time: RawBuilder<unknown>) => sql<number>`CAST((${time} - ${sql.lit(q.startTimeMs)}) / ${sql.lit(q.bucketMs)} AS BIGINT)`;
  const onlyKeys = (keys?: readonly string[]) => (keys ? sql` AND ${column} IN (${sql.join(keys)})` : sql``);
  /** Each part's rows per key (and per bucket, for the series), to be summed over the parts. */
  const partQueries = (keys?: readonly string[]): RawBuilder<GroupRow>[] => {
    const perBucket = keys !== undefined;
    const queries = parts.scans.map(
      ([from, to]) => sql<GroupRow>`
        SELECT ${column} AS k, ${perBucket ? bucketOf(sql`request_time`) : sql`0`} AS b, COUNT(*) AS n,
          SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END) AS e, SUM(COALESCE(total_tokens, 0)) AS tt, SUM(COALESCE(cost_nanos, 0)) AS c
        FROM traces WHERE experiment_id = ${experimentId} AND request_time >= ${sql.lit(from)} AND request_time < ${sql.lit(to)} AND ${column} IS NOT NULL${onlyKeys(keys)}
        GROUP BY ${column}${perBucket ? sql`, ${bucketOf(sql`request_time`)}` : sql``}`,
    );
    if (parts.hours) {
      queries.push(sql<GroupRow>`
        SELECT ${column} AS k, ${perBucket ? bucketOf(sql`hour_start`) : sql`0`} AS b, SUM(trace_count) AS n, SUM(error_count) AS e,
          SUM(total_tokens) AS tt, SUM(cost_nanos) AS c
        FROM ${sql.table(table)} WHERE experiment_id = ${experimentId} AND hour_start >= ${sql.lit(q.startTimeMs)} AND hour_start <= ${sql.lit(q.endTimeMs - HOUR_MS)}
          AND ${bucketOf(sql`hour_start`)} = ${bucketOf(sql`hour_start + ${sql.lit(HOUR_MS - 1)}`)}${onlyKeys(keys)}
        GROUP BY ${column}${perBucket ? sql`, ${bucketOf(sql`hour_start`)}` : sql``}`);
    }
    return queries;
  };
  const union = (keys?: readonly string[]) => sql.join(partQueries(keys).map((part) => sql`SELECT * FROM (${part}) AS p`), sql` UNION ALL `);
  const order = q.orderGroupsBy === 'cost' ? sql`SUM(u.c) DESC, SUM(u.n) DESC, u.k` : sql`SUM(u.n) DESC, u.k`;
  const top = await sql<GroupRow>`
    SELECT u.k AS k, SUM(u.n) AS n, SUM(u.e) AS e, SUM(u.tt) AS tt, SUM(u.c) AS c FROM (${union()}) AS u
    GROUP BY u.k ORDER BY ${order} LIMIT ${sql.lit(q.maxGroups ?? 8)}`.execute(db);
  if (top.rows.length === 0) return [];
  const groups = top.rows.map((row) => add({ key: row.k, traces: 0, errors: 0, totalTokens: 0, costNanos: 0, series: Array.from({ length: count }, () => ({ traces: 0, errors: 0, totalTokens: 0, costNanos: 0 })) }, row));
  const byKey = new Map(groups.map((g) => [g.key, g]));
  const series = await sql<GroupRow>`SELECT * FROM (${union(groups.map((g) => g.key))}) AS u`.execute(db);
  for (const row of series.rows) {
    const point = byKey.get(row.k)?.series[Number(row.b)];
    if (point) add(point, row);
  }
  return groups;
}

function add<T extends { traces: number; errors: number; totalTokens: number; costNanos: number }>(into: T, row: GroupRow): T {
  into.traces += Number(row.n);
  into.errors += Number(row.e);
  into.totalTokens += Number(row.tt ?? 0);
  into.costNanos += Number(row.c ?? 0);
  return into;
}
