import { sql, type Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { SqlDialect } from '../store/sql-dialect.js';
import { resolveTextMatches } from '../store/trace-text.js';
import { keysetQuery, nextPageToken } from './keyset.js';
import { parseOrderBy } from './order-by.js';
import { decodePageToken, searchDigest } from './page-token.js';
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
import type { TraceIdPage } from './trace-search.js';

/** A session as its rollup row has it (DESIGN.md §4), with up to {@link MAX_SESSION_USER_IDS} of its users. */
export interface SessionSummary {
  experimentId: string;
  sessionId: string;
  /** Sorted; the first {@link MAX_SESSION_USER_IDS} when the session has more (see `userCount`). */
  userIds: string[];
  userCount: number;
  traceCount: number;
  errorCount: number;
  firstTimeMs: number;
  lastTimeMs: number;
  /** When the last turn ended: the largest request time + execution duration. */
  lastEndTimeMs: number;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** Nano-dollars. */
  costNanos: number;
  firstTraceId: string;
  firstRequestPreview: string | null;
  lastTraceId: string;
  lastResponsePreview: string | null;
  /** Valid feedback on its turns and on the session itself, by name. */
  feedback: Record<string, FeedbackSummary>;
}

export interface SessionPage {
  sessions: SessionSummary[];
  nextPageToken?: string;
}

/** A session's turns as asked for by the REST layer: oldest first, paged. */
export interface SessionTracesRequest {
  experimentId: string;
  sessionId: string;
  /** Already validated 1..N by the HTTP layer. */
  maxResults: number;
  pageToken?: string;
}

/** A session's turns: by request time, then trace id (served by the index traces_exp_session_time_id). */
const TURN_ORDER = parseOrderBy(['timestamp_ms ASC']);

/** Users listed per session; `user_count` has the full number. */
export const MAX_SESSION_USER_IDS = 20;

const SESSION_ID = { name: 'session_id', valueType: 'string', expression: sql.ref('r.session_id') } as const;

/**
 * The session language: `session_id`, `user` (some user of the session), `turns`, `users`,
 * `first_time`, `last_time`, `duration_ms`, `errors`, `input_tokens`, `output_tokens`,
 * `total_tokens`, bare or prefixed `session.`, plus every trace clause ("some turn matches"), and
 * the session's feedback aggregates `feedback.<name>.<stat>` (stat: count, positive, negative,
 * positive_share, negative_share, numeric_count, sum, mean; rollup-search.ts), counting feedback
 * on its turns and on the session itself: `feedback.user_satisfaction.negative > 0`.
 */
export const SESSION_LANGUAGE: RollupLanguage = {
  name: 'sessions',
  prefix: 'session',
  columns: rollupColumns([
    SESSION_ID,
    { name: 'turns', valueType: 'number', expression: sql.ref('r.trace_count') },
    { name: 'users', valueType: 'number', expression: sql.ref('r.user_count') },
    ...COMMON_ROLLUP_COLUMNS,
    { name: 'duration_ms', valueType: 'number', expression: sql`(r.last_end_time - r.first_time)` },
  ]),
  extraFields: new Map([['user', { kind: 'session-user' }]]),
  tieBreakers: [rollupOrderKey(LAST_TIME_COLUMN, 'DESC'), rollupOrderKey(SESSION_ID, 'ASC')],
  traceOfRow: sql`t.experiment_id = r.experiment_id AND t.session_id = r.session_id`,
  traceKey: 'session_id',
  feedback: { scope: 'session', key: sql.ref('r.session_id') },
};

/**
 * One page of an experiment's sessions, read from the `sessions` rollup (never aggregating
 * traces). Bad requests are a 400 `ApiError` naming the offending part.
 *
 * @example
 * const page = await findSessions(db, dialect, { experimentId: '1', filter: "turns >= 3 AND tags.env = 'prod'", maxResults: 50 });
 */
export async function findSessions(db: Kysely<Database>, dialect: SqlDialect, request: RollupSearchRequest): Promise<SessionPage> {
  const search = await prepareRollupSearch(SESSION_LANGUAGE, dialect, request, (tree) => resolveTextMatches(db, dialect, tree));
  const { rows, nextPageToken } = await rollupPage(db, () => db.selectFrom('sessions as r').selectAll('r').where('r.experiment_id', '=', search.experimentId), search);
  const users = await sessionUserIds(db, search.experimentId, rows.map((r) => r.session_id));
  const feedback = await feedbackSummaries(db, search.experimentId, 'session', rows.map((r) => r.session_id));
  const sessions = rows.map((r) => ({
    experimentId: String(r.experiment_id),
    sessionId: r.session_id,
    userIds: users.get(r.session_id) ?? [],
    userCount: Number(r.user_count),
    traceCount: Number(r.trace_count),
    errorCount: Number(r.error_count),
    firstTimeMs: Number(r.first_time),
    lastTimeMs: Number(r.last_time),
    lastEndTimeMs: Number(r.last_end_time),
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
    totalTokens: Number(r.total_tokens),
    costNanos: Number(r.cost_nanos),
    firstTraceId: r.first_trace_id,
    firstRequestPreview: r.first_request_preview,
    lastTraceId: r.last_trace_id,
    lastResponsePreview: r.last_response_preview,
    feedback: feedback.get(r.session_id) ?? {},
  }));
  return nextPageToken === undefined ? { sessions } : { sessions, nextPageToken };
}

/** The first {@link MAX_SESSION_USER_IDS} users of each session, sorted, in one query. */
async function sessionUserIds(db: Kysely<Database>, experimentId: number, sessionIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (sessionIds.length === 0) return out;
  const rows = await db
    .selectFrom((eb) =>
      eb
        .selectFrom('session_users')
        .select(['session_id', 'user_id', sql<number>`ROW_NUMBER() OVER (PARTITION BY session_id ORDER BY user_id)`.as('n')])
        .where('experiment_id', '=', experimentId)
        .where('session_id', 'in', sessionIds)
        .as('su'),
    )
    .select(['su.session_id', 'su.user_id'])
    .where('su.n', '<=', MAX_SESSION_USER_IDS)
    .orderBy('su.session_id')
    .orderBy('su.user_id')
    .execute();
  for (const row of rows) {
    const list = out.get(row.session_id) ?? [];
    list.push(row.user_id);
    out.set(row.session_id, list);
  }
  return out;
}

/**
 * A session's traces in time order (request time, then trace id), one keyset page at a time, or
 * undefined when the experiment has no such session.
 *
 * @example
 * const page = await findSessionTraceIds(db, { experimentId: '1', sessionId: 's-1', maxResults: 100 });
 */
export async function findSessionTraceIds(db: Kysely<Database>, request: SessionTracesRequest): Promise<TraceIdPage | undefined> {
  const experimentId = Number(request.experimentId);
  const digest = searchDigest([request.experimentId], `session-traces:${JSON.stringify(request.sessionId)}`, TURN_ORDER);
  const after = request.pageToken ? decodePageToken(request.pageToken, digest, TURN_ORDER) : undefined;
  const query = db.selectFrom('traces as t').select('t.trace_id').where('t.experiment_id', '=', experimentId).where('t.session_id', '=', request.sessionId);
  const rows = await keysetQuery(query, TURN_ORDER, after).limit(request.maxResults).execute();
  // Turns found mean the session exists (its rollup row is written with them); only an empty page asks.
  if (rows.length === 0) {
    const exists = await db
      .selectFrom('sessions')
      .select('session_id')
      .where('experiment_id', '=', experimentId)
      .where('session_id', '=', request.sessionId)
      .executeTakeFirst();
    if (!exists) return undefined;
  }
  const traceIds = rows.map((r) => r.trace_id);
  const token = nextPageToken(rows, TURN_ORDER, request.maxResults, digest);
  return token === undefined ? { traceIds } : { traceIds, nextPageToken: token };
}
