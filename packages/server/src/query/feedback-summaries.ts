import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

/** What the rollups count of one feedback name, for one session or user. */
export interface FeedbackSummary {
  count: number;
  positive: number;
  negative: number;
  numericCount: number;
  numericSum: number;
}

/**
 * The feedback rollups of a page of sessions or users, by key then name, in one indexed read
 * (the rollup's primary key leads with experiment, scope and key). Names whose counts went back
 * to zero are left out.
 *
 * @example
 * const bySession = await feedbackSummaries(db, 0, 'session', ['s-1', 's-2']);
 * bySession.get('s-1')?.user_satisfaction?.negative;
 */
export async function feedbackSummaries(db: Kysely<Database>, experimentId: number, scope: 'session' | 'user', keys: readonly string[]): Promise<Map<string, Record<string, FeedbackSummary>>> {
  const out = new Map<string, Record<string, FeedbackSummary>>();
  if (keys.length === 0) return out;
  const rows = await db
    .selectFrom('feedback_rollups')
    .select(['key', 'name', 'count', 'true_count', 'false_count', 'numeric_count', 'numeric_sum'])
    .where('experiment_id', '=', experimentId)
    .where('scope', '=', scope)
    .where('key', 'in', [...keys])
    .where('count', '>', 0)
    .orderBy('key')
    .orderBy('name')
    .execute();
  for (const row of rows) {
    let byName = out.get(row.key);
    if (!byName) out.set(row.key, (byName = {}));
    byName[row.name] = {
      count: Number(row.count),
      positive: Number(row.true_count),
      negative: Number(row.false_count),
      numericCount: Number(row.numeric_count),
      numericSum: Number(row.numeric_sum),
    };
  }
  return out;
}

/** The wire form of {@link feedbackSummaries}' values (snake_case, `sum`). */
export function feedbackSummariesJson(feedback: Record<string, FeedbackSummary>): Record<string, { count: number; positive: number; negative: number; numeric_count: number; sum: number }> {
  return Object.fromEntries(
    Object.entries(feedback).map(([name, f]) => [name, { count: f.count, positive: f.positive, negative: f.negative, numeric_count: f.numericCount, sum: f.numericSum }]),
  );
}
