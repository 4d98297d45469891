import { sql, type Kysely } from 'kysely';
import { feedbackCounts, feedbackHourKey, type FeedbackCounts } from './feedback-rollups.js';
import type { Database } from './schema.js';
import { HOUR_MS } from './trace-metrics.js';

/** What the feedback metrics endpoint asks of the store; the range and buckets in whole hours. */
export interface FeedbackMetricsQuery {
  experimentId: string;
  /** Multiples of an hour, start < end. */
  startTimeMs: number;
  endTimeMs: number;
  /** A multiple of an hour. */
  bucketMs: number;
  names?: readonly string[];
  maxNames: number;
  /** Per user or session, the feedback on its traces of [groupStartMs, groupEndMs). */
  groupBy?: 'user' | 'session';
  groupKeys?: readonly string[];
  groupStartMs?: number;
  groupEndMs?: number;
}

export interface FeedbackNameSeries {
  name: string;
  total: FeedbackCounts;
  series: FeedbackCounts[];
}

export interface FeedbackGroup {
  key: string;
  names: { name: string; counts: FeedbackCounts }[];
}

export interface FeedbackMetrics {
  names: FeedbackNameSeries[];
  groups?: FeedbackGroup[];
}

const zero = (): FeedbackCounts => ({ count: 0, true_count: 0, false_count: 0, numeric_count: 0, numeric_sum: 0 });

function addInto(into: FeedbackCounts, counts: FeedbackCounts, times = 1): void {
  into.count += counts.count * times;
  into.true_count += counts.true_count * times;
  into.false_count += counts.false_count * times;
  into.numeric_count += counts.numeric_count * times;
  into.numeric_sum += counts.numeric_sum * times;
}

/**
 * Valid feedback over time, per name, read from the hour rows of `feedback_rollups` (one row per
 * hour and name, found by the primary key's range): a month is ~720 rows per name whatever the
 * traffic. Per group, the feedback on the group's traces in the range is counted by one grouped
 * read over the range's traces (the same index the traces metrics' groups use), and, for
 * sessions, the session's own feedback; values are grouped in SQL and classified here by
 * `feedbackCounts`, the one definition of positive and negative the rollups use.
 */
export async function queryFeedbackMetrics(db: Kysely<Database>, q: FeedbackMetricsQuery): Promise<FeedbackMetrics> {
  const experimentId = Number(q.experimentId);
  const count = Math.ceil((q.endTimeMs - q.startTimeMs) / q.bucketMs);
  let hours = db
    .selectFrom('feedback_rollups')
    .select(['key', 'name', 'count', 'true_count', 'false_count', 'numeric_count', 'numeric_sum'])
    .where('experiment_id', '=', experimentId)
    .where('scope', '=', 'hour')
    .where('key', '>=', feedbackHourKey(q.startTimeMs))
    .where('key', '<', feedbackHourKey(q.endTimeMs));
  if (q.names) hours = q.names.length > 0 ? hours.where('name', 'in', [...q.names]) : hours.where(sql.lit(false));
  const byName = new Map<string, FeedbackNameSeries>();
  for (const row of await hours.execute()) {
    const index = Math.floor((Number(row.key) - q.startTimeMs) / q.bucketMs);
    let named = byName.get(row.name);
    if (!named) byName.set(row.name, (named = { name: row.name, total: zero(), series: Array.from({ length: count }, zero) }));
    const counts: FeedbackCounts = {
      count: Number(row.count),
      true_count: Number(row.true_count),
      false_count: Number(row.false_count),
      numeric_count: Number(row.numeric_count),
      numeric_sum: Number(row.numeric_sum),
    };
    addInto(named.total, counts);
    const point = named.series[index];
    if (point) addInto(point, counts);
  }
  const names = [...byName.values()]
    .filter((n) => n.total.count !== 0)
    .sort((a, b) => b.total.count - a.total.count || (a.name < b.name ? -1 : 1))
    .slice(0, q.maxNames);
  if (!q.groupBy || !q.groupKeys) return { names };
  return { names, groups: await groupFeedback(db, experimentId, q) };
}

async function groupFeedback(db: Kysely<Database>, experimentId: number, q: FeedbackMetricsQuery): Promise<FeedbackGroup[]> {
  const keys = [...new Set(q.groupKeys)];
  const groups = new Map(keys.map((key) => [key, new Map<string, FeedbackCounts>()]));
  if (keys.length === 0) return [];
  const column = sql.ref(q.groupBy === 'user' ? 't.user_id' : 't.session_id');
  const onTraces = sql<{ k: string; name: string; value: string | null; n: number | string }>`
    SELECT ${column} AS k, a.name AS name, a.value AS value, COUNT(*) AS n
    FROM traces AS t JOIN assessments AS a ON a.trace_id = t.trace_id
    WHERE t.experiment_id = ${experimentId} AND t.request_time >= ${q.groupStartMs ?? q.startTimeMs} AND t.request_time < ${q.groupEndMs ?? q.endTimeMs}
      AND ${column} IN (${sql.join(keys)}) AND a.kind = 'feedback' AND a.valid = 1
    GROUP BY ${column}, a.name, a.value`;
  const ofSessions = sql<{ k: string; name: string; value: string | null; n: number | string }>`
    SELECT a.session_id AS k, a.name AS name, a.value AS value, COUNT(*) AS n
    FROM assessments AS a
    WHERE a.experiment_id = ${experimentId} AND a.session_id IN (${sql.join(keys)}) AND a.trace_id IS NULL AND a.kind = 'feedback' AND a.valid = 1
    GROUP BY a.session_id, a.name, a.value`;
  const reads = [onTraces.execute(db), ...(q.groupBy === 'session' ? [ofSessions.execute(db)] : [])];
  for (const { rows } of await Promise.all(reads)) {
    for (const row of rows) {
      const counts = feedbackCounts({ kind: 'feedback', valid: true, value: row.value === null ? null : (JSON.parse(row.value) as unknown) });
      const group = groups.get(row.k);
      if (!counts || !group) continue;
      let named = group.get(row.name);
      if (!named) group.set(row.name, (named = zero()));
      addInto(named, counts, Number(row.n));
    }
  }
  return keys.map((key) => ({
    key,
    names: [...groups.get(key)!].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, counts]) => ({ name, counts })),
  }));
}

/** The hour-aligned range and bucket that hold [startMs, endMs) in buckets of at least `bucketMs`. */
export function wholeHours(startMs: number, endMs: number, bucketMs: number): { startMs: number; endMs: number; bucketMs: number } {
  const start = startMs - (((startMs % HOUR_MS) + HOUR_MS) % HOUR_MS);
  const bucket = Math.max(HOUR_MS, Math.ceil(bucketMs / HOUR_MS) * HOUR_MS);
  const end = start + Math.ceil((endMs - start) / bucket) * bucket;
  return { startMs: start, endMs: end, bucketMs: bucket };
}
