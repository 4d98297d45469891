import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { SqlDialect } from '../store/sql-dialect.js';
import { resolveTextMatches } from '../store/trace-text.js';
import {
  COMMON_ROLLUP_COLUMNS,
  LAST_TIME_COLUMN,
  prepareRollupSearch,
  rollupColumns,
  rollupOrderKey,
  rollupPage,
  type RollupLanguage,
  type RollupSearchRequest,
} from './rollup-search.js';
import { feedbackSummaries, type FeedbackSummary } from './feedback-summaries.js';

/** A user as the `users` rollup row has it (DESIGN.md §4). */
export interface UserSummary {
  experimentId: string;
  userId: string;
  firstTimeMs: number;
  lastTimeMs: number;
  traceCount: number;
  sessionCount: number;
  errorCount: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** Nano-dollars. */
  costNanos: number;
  /** Valid feedback on the user's turns and sessions, by name. */
  feedback: Record<string, FeedbackSummary>;
}

export interface UserPage {
  users: UserSummary[];
  nextPageToken?: string;
}

const USER_ID = { name: 'user_id', valueType: 'string', expression: sql.ref('r.user_id') } as const;

/**
 * The user language: `user_id`, `traces`, `sessions`, `first_time`, `last_time`, `errors`,
 * `input_tokens`, `output_tokens`, `total_tokens`, bare or prefixed `user.`, plus every trace
 * clause ("some trace of the user matches"), and the user's feedback aggregates
 * `feedback.<name>.<stat>` as in the session language, counting feedback on the user's traces and
 * on their sessions as a whole: `order_by: ['feedback.user_satisfaction.negative_share DESC']`.
 */
export const USER_LANGUAGE: RollupLanguage = {
  name: 'users',
  prefix: 'user',
  columns: rollupColumns([
    USER_ID,
    { name: 'traces', valueType: 'number', expression: sql.ref('r.trace_count') },
    { name: 'sessions', valueType: 'number', expression: sql.ref('r.session_count') },
    ...COMMON_ROLLUP_COLUMNS,
  ]),
  extraFields: new Map(),
  tieBreakers: [rollupOrderKey(LAST_TIME_COLUMN, 'DESC'), rollupOrderKey(USER_ID, 'ASC')],
  traceOfRow: sql`t.experiment_id = r.experiment_id AND t.user_id = r.user_id`,
  traceKey: 'user_id',
  feedback: { scope: 'user', key: sql.ref('r.user_id') },
};

/**
 * One page of an experiment's users, read from the `users` rollup. Bad requests are a 400
 * `ApiError` naming the offending part.
 *
 * @example
 * const top = await findUsers(db, dialect, { experimentId: '1', orderBy: ['traces DESC'], maxResults: 50 });
 */
export async function findUsers(db: Kysely<Database>, dialect: SqlDialect, request: RollupSearchRequest): Promise<UserPage> {
  const search = await prepareRollupSearch(USER_LANGUAGE, dialect, request, (tree) => resolveTextMatches(db, dialect, tree));
  const { rows, nextPageToken } = await rollupPage(db, () => db.selectFrom('users as r').selectAll('r').where('r.experiment_id', '=', search.experimentId), search);
  const feedback = await feedbackSummaries(db, search.experimentId, 'user', rows.map((r) => r.user_id));
  const users = rows.map((r) => ({
    experimentId: String(r.experiment_id),
    userId: r.user_id,
    firstTimeMs: Number(r.first_time),
    lastTimeMs: Number(r.last_time),
    traceCount: Number(r.trace_count),
    sessionCount: Number(r.session_count),
    errorCount: Number(r.error_count),
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    totalTokens: Number(r.total_tokens),
    costNanos: Number(r.cost_nanos),
    feedback: feedback.get(r.user_id) ?? {},
  }));
  return nextPageToken === undefined ? { users } : { users, nextPageToken };
}
