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
 * its totals and its series per bucket. Two passes: the totals of every key, summed from the
 * rollup's whole hours and the scanned parts, decide the top keys; then only their series are
 * read. At 1M traces a month holds ~100k user-hours: the pass reads those, not the month's traces.
 */
export async function queryMetricGroups(db: Kysely<Database>, q: TraceMetricsQuery & { groupBy: 'user' | 'session' }, parts: RangeParts, count: number): Promise<TraceMetricsGroup[]> {
  const experimentId = Number(q.experimentId);
  const { table, column: name } = keyHourTable(q.groupBy);
  const column = sql.ref(name);
  const bucketOf = (time: RawBuilder<unknown>) => sql<number>`CAST((${time} - ${sql.lit(q.startTimeMs)}) / ${sql.lit(q.bucketMs)} AS BIGINT)`;
  const onlyKeys = (keys?: readonly string[]) => (keys ? sql` AND ${column} IN (${sql.join(keys)})` : sql``);
  const read = async (keys?: readonly string[]): Promise<GroupRow[]> => {
    const perBucket = keys !== undefined;
    const queries: Promise<{ rows: GroupRow[] }>[] = parts.scans.map(([from, to]) =>
      sql<GroupRow>`
        SELECT ${column} AS k${perBucket ? sql`, ${bucketOf(sql`request_time`)} AS b` : sql``}, COUNT(*) AS n,
          SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END) AS e, SUM(total_tokens) AS tt, SUM(cost_nanos) AS c
        FROM traces WHERE experiment_id = ${experimentId} AND request_time >= ${sql.lit(from)} AND request_time < ${sql.lit(to)} AND ${column} IS NOT NULL${onlyKeys(keys)}
        GROUP BY ${column}${perBucket ? sql`, ${bucketOf(sql`request_time`)}` : sql``}`.execute(db),
    );
    if (parts.hours) {
      queries.push(
        sql<GroupRow>`
          SELECT ${column} AS k${perBucket ? sql`, ${bucketOf(sql`hour_start`)} AS b` : sql``}, SUM(trace_count) AS n, SUM(error_count) AS e,
            SUM(total_tokens) AS tt, SUM(cost_nanos) AS c
          FROM ${sql.table(table)} WHERE experiment_id = ${experimentId} AND hour_start >= ${sql.lit(q.startTimeMs)} AND hour_start <= ${sql.lit(q.endTimeMs - HOUR_MS)}
            AND ${bucketOf(sql`hour_start`)} = ${bucketOf(sql`hour_start + ${sql.lit(HOUR_MS - 1)}`)}${onlyKeys(keys)}
          GROUP BY ${column}${perBucket ? sql`, ${bucketOf(sql`hour_start`)}` : sql``}`.execute(db),
      );
    }
    return (await Promise.all(queries)).flatMap((r) => r.rows);
  };

  const totals = new Map<string, TraceMetricsGroup>();
  for (const row of await read()) {
    let group = totals.get(row.k);
    if (!group) totals.set(row.k, (group = { key: row.k, traces: 0, errors: 0, totalTokens: 0, costNanos: 0, series: [] }));
    add(group, row);
  }
  const byCost = q.orderGroupsBy === 'cost';
  const top = [...totals.values()]
    .sort((a, b) => (byCost ? b.costNanos - a.costNanos : 0) || b.traces - a.traces || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .slice(0, q.maxGroups ?? 8);
  if (top.length === 0) return [];
  for (const group of top) group.series = Array.from({ length: count }, () => ({ traces: 0, errors: 0, totalTokens: 0, costNanos: 0 }));
  const byKey = new Map(top.map((g) => [g.key, g]));
  for (const row of await read(top.map((g) => g.key))) {
    const point = byKey.get(row.k)?.series[Number(row.b)];
    if (point) add(point, row);
  }
  return top;
}

function add(into: { traces: number; errors: number; totalTokens: number; costNanos: number }, row: GroupRow): void {
  into.traces += Number(row.n);
  into.errors += Number(row.e);
  into.totalTokens += Number(row.tt ?? 0);
  into.costNanos += Number(row.c ?? 0);
}
