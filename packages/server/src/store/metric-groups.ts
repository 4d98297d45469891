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
 * its totals and its series per bucket: found from the all-time totals as bounds when they settle
 * it (`rankedByBound`), else by counting every key (`groupsFromRollupHours`).
 */
export async function queryMetricGroups(
  db: Kysely<Database>,
  q: TraceMetricsQuery & { groupBy: 'user' | 'session' },
  parts: RangeParts,
  count: number,
  { rollups }: { rollups: boolean },
): Promise<TraceMetricsGroup[]> {
  return (rollups ? await rankedByBound(db, q, count) : undefined) ?? (await groupsFromRollupHours(db, q, parts, count));
}

/** Keys looked at, best bound first, before the ranking gives up on the bound and sums every key. */
const MAX_BOUND_CANDIDATES = 200;
/** Keys whose window is counted per statement. */
const CANDIDATE_BATCH = 25;

/**
 * The top keys found from the rollup's all-time totals, which bound what a key can count in any
 * range (counts and costs are never negative): keys are taken in the order of their bound (an
 * index of `users` or `sessions`), each counted in the range exactly from its own traces (the
 * key's time index), until the last key taken ranks below the top ones by more than any key left
 * could make up. A month's top 5 users of 10,000 so cost a few keys' traces, not a grouping of
 * every key's hours (~250 ms at 1M traces). Undefined, for the grouping to answer, when no index
 * gives the order (sessions by traces), when ties would leave the order to collation, or when
 * the bound does not settle the top within {@link MAX_BOUND_CANDIDATES} keys (a range far from
 * where the all-time totals were made).
 */
async function rankedByBound(db: Kysely<Database>, q: TraceMetricsQuery & { groupBy: 'user' | 'session' }, count: number): Promise<TraceMetricsGroup[] | undefined> {
  const byCost = q.orderGroupsBy === 'cost';
  const table = q.groupBy === 'user' ? 'users' : 'sessions';
  const key = q.groupBy === 'user' ? 'user_id' : 'session_id';
  // The order each index gives, read backwards; sessions have no index by trace count.
  const order = byCost ? `cost_nanos DESC, ${key} DESC` : q.groupBy === 'user' ? 'trace_count DESC, last_time DESC, user_id DESC' : undefined;
  if (order === undefined) return undefined;
  const wanted = q.maxGroups ?? 8;
  const experimentId = Number(q.experimentId);
  const rank = (a: GroupRow, b: GroupRow) => (byCost ? Number(b.c) - Number(a.c) || Number(b.n) - Number(a.n) : Number(b.n) - Number(a.n));
  const counted: GroupRow[] = [];
  for (let offset = 0; offset < MAX_BOUND_CANDIDATES; offset += CANDIDATE_BATCH) {
    const candidates = (
      await sql<{ k: string; bound: number | string }>`SELECT ${sql.ref(key)} AS k, ${sql.ref(byCost ? 'cost_nanos' : 'trace_count')} AS bound FROM ${sql.table(table)}
        WHERE experiment_id = ${experimentId} ORDER BY ${sql.raw(order)} LIMIT ${sql.lit(CANDIDATE_BATCH)} OFFSET ${sql.lit(offset)}`.execute(db)
    ).rows;
    if (candidates.length > 0) counted.push(...(await countKeys(db, q, key, candidates.map((c) => c.k), 1)).rows.filter((r) => Number(r.n) > 0));
    counted.sort(rank);
    const exhausted = candidates.length < CANDIDATE_BATCH;
    const last = counted[wanted - 1];
    const settled = exhausted || (last !== undefined && Number(byCost ? last.c : last.n) > Number(candidates.at(-1)!.bound));
    if (!settled) continue;
    // Equal counts are ordered by key, as the database orders keys (its collation, not JavaScript's).
    if (counted.some((row, i) => i > 0 && rank(counted[i - 1]!, row) === 0)) {
      const position = await keyOrder(db, counted.map((row) => row.k));
      counted.sort((a, b) => rank(a, b) || position.get(a.k)! - position.get(b.k)!);
    }
    const top = counted.slice(0, wanted);
    const groups = top.map((row) => add({ key: row.k, traces: 0, errors: 0, totalTokens: 0, costNanos: 0, series: Array.from({ length: count }, () => ({ traces: 0, errors: 0, totalTokens: 0, costNanos: 0 })) }, row));
    if (groups.length === 0) return groups;
    const byKey = new Map(groups.map((g) => [g.key, g]));
    if (count === 1) {
      groups.forEach((g, i) => add(g.series[0]!, top[i]!));
    } else {
      for (const row of (await countKeys(db, q, key, groups.map((g) => g.key), count)).rows) {
        const point = byKey.get(row.k)?.series[Number(row.b)];
        if (point) add(point, row);
      }
    }
    return groups;
  }
  return undefined;
}

/** Each key's place when the database sorts them. */
async function keyOrder(db: Kysely<Database>, keys: readonly string[]): Promise<Map<string, number>> {
  const listed = sql.join(keys.map((k) => sql`SELECT CAST(${k} AS TEXT) AS k`), sql` UNION ALL `);
  const { rows } = await sql<{ k: string }>`SELECT l.k AS k FROM (${listed}) AS l ORDER BY l.k`.execute(db);
  return new Map(rows.map((row, i) => [row.k, i]));
}

/** The range's counts of these keys from their traces, through the (experiment, key, time) index: per key, or per key and bucket. */
function countKeys(db: Kysely<Database>, q: TraceMetricsQuery, key: 'user_id' | 'session_id', keys: readonly string[], count: number) {
  const bucket = sql<number>`CAST((request_time - ${sql.lit(q.startTimeMs)}) / ${sql.lit(q.bucketMs)} AS BIGINT)`;
  return sql<GroupRow>`
    SELECT ${sql.ref(key)} AS k, ${count === 1 ? sql`0` : bucket} AS b, COUNT(*) AS n, SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END) AS e,
      SUM(COALESCE(total_tokens, 0)) AS tt, SUM(COALESCE(cost_nanos, 0)) AS c
    FROM traces WHERE experiment_id = ${Number(q.experimentId)} AND ${sql.ref(key)} IN (${sql.join(keys)})
      AND request_time >= ${sql.lit(q.startTimeMs)} AND request_time < ${sql.lit(q.endTimeMs)}
    GROUP BY ${sql.ref(key)}${count === 1 ? sql`` : sql`, ${bucket}`}`.execute(db);
}

/**
 * Every key's counts in the range, from the hourly rollups and the cut hours. Two statements: the
 * totals of every key, summed over the rollup's whole hours and the scanned parts, ranked and cut
 * to the top keys in SQL (a month holds ~100k session-hours at 1M traces: they never leave the
 * database); then only those keys' series.
 */
async function groupsFromRollupHours(db: Kysely<Database>, q: TraceMetricsQuery & { groupBy: 'user' | 'session' }, parts: RangeParts, count: number): Promise<TraceMetricsGroup[]> {
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
