import { sql, type Kysely, type Transaction } from 'kysely';
import { FeedbackDeltas, linkFeedback, recomputeFeedbackRollups } from './feedback-rollups.js';
import { insertRows, runSql } from './fast-sql.js';
import { recomputeKeyHours, shiftKeyHours } from './key-hours.js';
import type { Database } from './schema.js';
import { hourOf, latencyBin } from './trace-metrics.js';

/**
 * The rollups: `sessions`, `users`, `session_users` and `trace_hours` (DESIGN.md §4). Every write
 * that changes a trace updates them in the same transaction through `applyRollupChanges`, the only
 * writer of these tables, so that listing sessions or users, or charting a month, never
 * aggregates traces at read time.
 *
 * ## The lock order
 *
 * Every write transaction takes its row locks in this one order, so that two transactions (on
 * two server replicas) never each hold a row the other waits for:
 *
 *   1. `traces` rows, by trace_id. A write of one trace inserts or locks (`FOR UPDATE`) its row
 *      before anything else; a delete locks all its victims first, in trace_id order
 *      (trace-writes.ts). The trace's metadata, tags and spans are only written under that lock.
 *   2. `sessions` rows, by (experiment_id, session_id);
 *   3. `users` rows, by (experiment_id, user_id);
 *   4. `session_users` rows, by (experiment_id, session_id, user_id);
 *   5. `trace_hours` rows, by (experiment_id, hour_start, latency_bin, shard); then `user_hours`,
 *      then `session_hours` rows, each by (experiment_id, hour_start, key) (key-hours.ts);
 *   6. `feedback_rollups` rows, by (experiment_id, scope, key, name) (feedback-rollups.ts).
 *
 * A write of assessments takes step 1 (a trace's) or step 2 (a session's own assessments: the
 * session row, which every writer of its `session_users` links holds) and then step 6.
 *
 * After step 4 a transaction updates `user_count` / `session_count` and recounted times of rows
 * of steps 2 and 3, or deletes them: only rows it already holds, so nothing new is waited for.
 * `applyRollupChanges` is called once per transaction with every change the transaction made.
 *
 * ## Why counts stay exact
 *
 * Nothing is deleted and inserted again: rows are upserted (`ON CONFLICT DO UPDATE`) and updated
 * in place, counters by difference. A row is deleted only when its trace count reaches 0, by the
 * transaction holding its lock; a writer waiting for that row then inserts it afresh, which an
 * upsert does without a duplicate-key error.
 *
 * Times (first and last trace, last end) cannot move by difference when a trace leaves a key (it
 * is deleted, or its time moved), so the key's row is first locked by its upsert, and only then
 * are the traces read for the new extremes, through the (experiment, key, time) indexes. Under
 * READ COMMITTED each statement sees what was committed when it started, and every writer of a
 * trace of that key takes the same row lock after writing its trace row: a concurrent writer has
 * either committed before the lock was granted (its trace is seen) or waits for the lock and then
 * merges its own trace into the row as this transaction left it.
 */

/** What one trace counts for in the rollups. */
export interface RollupContribution {
  experimentId: number;
  traceId: string;
  sessionId: string | null;
  userId: string | null;
  requestTime: number;
  endTime: number;
  durationMs: number | null;
  isError: boolean;
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
  /** Nano-dollars (006-cost). */
  costNanos: number;
  requestPreview: string | null;
  responsePreview: string | null;
}

/** A trace as it was counted (null: it is new) and as it is to be counted (null: it is gone). */
export interface RollupChange {
  was: RollupContribution | null;
  now: RollupContribution | null;
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Applies every change of one transaction to the rollups, taking row locks in the module's lock
 * order. `feedback` holds what the transaction changed in the feedback rollups (its assessment
 * writes, and `traceFeedbackMoves` of these changes, read before any assessment changed); links
 * made or unmade here add theirs, and all are written last, as step 6. Cost: a few statements per
 * key touched, plus indexed reads of the keys a trace left.
 */
export async function applyRollupChanges(db: Db, changes: readonly RollupChange[], feedback: FeedbackDeltas = new FeedbackDeltas()): Promise<void> {
  const sessions = new KeyPlans();
  const users = new KeyPlans();
  const links = new Map<string, { experimentId: number; sessionId: string; userId: string; entering: boolean }>();
  for (const { was, now } of changes) {
    if (was !== null && now !== null && was.experimentId !== now.experimentId) throw new Error(`Trace ${now.traceId} cannot move between experiments.`);
    sessions.add(was, now, (c) => c.sessionId);
    users.add(was, now, (c) => c.userId);
    const wasLink = was && was.sessionId !== null && was.userId !== null ? linkKey(was) : null;
    const nowLink = now && now.sessionId !== null && now.userId !== null ? linkKey(now) : null;
    if (wasLink === nowLink) continue;
    // A link some trace enters stays whatever else left it.
    if (wasLink !== null && !links.has(wasLink)) links.set(wasLink, { experimentId: was!.experimentId, sessionId: was!.sessionId!, userId: was!.userId!, entering: false });
    if (nowLink !== null) links.set(nowLink, { experimentId: now!.experimentId, sessionId: now!.sessionId!, userId: now!.userId!, entering: true });
  }

  // 2 and 3: lock and count each session, then each user.
  const sessionRows = new Map<string, SessionRow | undefined>();
  for (const [key, plan] of sessions.sorted()) sessionRows.set(key, await countSession(db, plan));
  const userRows = new Map<string, UserRow | undefined>();
  for (const [key, plan] of users.sorted()) userRows.set(key, await countUser(db, plan));

  // 4: links a trace made or may have unmade, and what they change in the counts of users and sessions.
  const userCounts = new Map<string, number>();
  const sessionCounts = new Map<string, number>();
  for (const key of [...links.keys()].sort()) {
    const link = links.get(key)!;
    const sessionKey = keyOf(link.experimentId, link.sessionId);
    const userKey = keyOf(link.experimentId, link.userId);
    const changed = link.entering ? await insertLink(db, link) : await deleteLinkIfUnused(db, link);
    if (!changed) continue;
    // A session's own feedback counts for each of its users.
    await linkFeedback(db, link, link.entering ? 1 : -1, feedback);
    userCounts.set(sessionKey, (userCounts.get(sessionKey) ?? 0) + (link.entering ? 1 : -1));
    sessionCounts.set(userKey, (sessionCounts.get(userKey) ?? 0) + (link.entering ? 1 : -1));
  }

  // Rows of 2 and 3, already held: link counts, times a leaving trace may have set, deletes at 0.
  for (const [key, plan] of sessions.sorted()) await finishSession(db, plan, sessionRows.get(key), userCounts.get(key) ?? 0);
  for (const [key, plan] of users.sorted()) await finishUser(db, plan, userRows.get(key), sessionCounts.get(key) ?? 0);

  // 5.
  const signed = changes.flatMap(({ was, now }) => [...(was ? [{ c: was, sign: -1 as const }] : []), ...(now ? [{ c: now, sign: 1 as const }] : [])]);
  await shiftHours(db, signed);
  await shiftKeyHours(db, signed);

  // 6.
  await feedback.apply(db);
}

/** A key's sort and map key: experiment, then id, compared as strings by every transaction alike. */
function keyOf(experimentId: number, id: string): string {
  return `${String(experimentId).padStart(20, '0')}\u0000${id}`;
}

function linkKey(c: RollupContribution): string {
  return `${keyOf(c.experimentId, c.sessionId!)}\u0000${c.userId}`;
}

/** What the changes of one transaction do to one session or user. */
interface KeyPlan {
  experimentId: number;
  id: string;
  /** Net change of the counters. */
  traces: number;
  errors: number;
  input: number;
  output: number;
  total: number;
  cost: number;
  /** Traces now counted here: merged into the first/last times and previews. */
  entering: RollupContribution[];
  /** Traces that left, or moved in time within, the key: its times must be read again if they set them. */
  leaving: RollupContribution[];
  /** Traces that stay at the same time: the previews they set follow their new values. */
  staying: RollupContribution[];
}

class KeyPlans {
  private readonly plans = new Map<string, KeyPlan>();

  add(was: RollupContribution | null, now: RollupContribution | null, idOf: (c: RollupContribution) => string | null): void {
    const wasId = was && idOf(was);
    const nowId = now && idOf(now);
    if (wasId !== null && wasId === nowId) {
      const plan = this.plan(now!.experimentId, nowId);
      plan.errors += Number(now!.isError) - Number(was!.isError);
      plan.input += now!.inputTokens - was!.inputTokens;
      plan.output += now!.outputTokens - was!.outputTokens;
      plan.total += now!.totalTokens - was!.totalTokens;
      plan.cost += now!.costNanos - was!.costNanos;
      // Its times and previews as they were (its spans priced, say): only the counters move, by
      // an update, not the upsert that merges times and previews.
      if (sameTimesAndPreviews(was!, now!)) return;
      plan.entering.push(now!);
      if (now!.requestTime === was!.requestTime && now!.endTime >= was!.endTime) plan.staying.push(now!);
      else plan.leaving.push(was!);
      return;
    }
    if (wasId !== null) {
      const plan = this.plan(was!.experimentId, wasId);
      plan.traces -= 1;
      plan.errors -= Number(was!.isError);
      plan.input -= was!.inputTokens;
      plan.output -= was!.outputTokens;
      plan.total -= was!.totalTokens;
      plan.cost -= was!.costNanos;
      plan.leaving.push(was!);
    }
    if (nowId !== null) {
      const plan = this.plan(now!.experimentId, nowId);
      plan.traces += 1;
      plan.errors += Number(now!.isError);
      plan.input += now!.inputTokens;
      plan.output += now!.outputTokens;
      plan.total += now!.totalTokens;
      plan.cost += now!.costNanos;
      plan.entering.push(now!);
    }
  }

  sorted(): [string, KeyPlan][] {
    return [...this.plans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private plan(experimentId: number, id: string): KeyPlan {
    const key = keyOf(experimentId, id);
    let plan = this.plans.get(key);
    if (!plan) this.plans.set(key, (plan = { experimentId, id, traces: 0, errors: 0, input: 0, output: 0, total: 0, cost: 0, entering: [], leaving: [], staying: [] }));
    return plan;
  }
}

function sameTimesAndPreviews(a: RollupContribution, b: RollupContribution): boolean {
  return a.requestTime === b.requestTime && a.endTime === b.endTime && a.requestPreview === b.requestPreview && a.responsePreview === b.responsePreview;
}

/** The columns of a locked row that decide whether its times must be read again. */
interface SessionRow {
  trace_count: number;
  first_time: number;
  last_time: number;
  last_end_time: number;
  first_trace_id: string;
  last_trace_id: string;
}
type UserRow = Pick<SessionRow, 'trace_count' | 'first_time' | 'last_time'>;

const before = (a: RollupContribution, b: RollupContribution) => a.requestTime < b.requestTime || (a.requestTime === b.requestTime && a.traceId < b.traceId);

/** The earliest and latest of the entering traces, and the latest end. */
function extremes(entering: readonly RollupContribution[]) {
  const first = entering.reduce((a, b) => (before(b, a) ? b : a));
  const last = entering.reduce((a, b) => (before(a, b) ? b : a));
  return { first, last, lastEnd: Math.max(...entering.map((c) => c.endTime)) };
}

const COUNTERS = ['trace_count', 'error_count', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_nanos'] as const;

/** The plan's counter differences, in the order of {@link COUNTERS}. */
function counterValues(plan: KeyPlan): number[] {
  return [plan.traces, plan.errors, plan.input, plan.output, plan.total, plan.cost];
}

/** `counter = table.counter + ?` for each counter. */
function addCounters(table: 'sessions' | 'users'): string {
  return COUNTERS.map((c) => `${c} = ${table}.${c} + ?`).join(', ');
}

/** `column`'s value, or the lower / higher of it and a parameter (given twice). */
const least = (column: string) => `CASE WHEN ? < ${column} THEN ? ELSE ${column} END`;
const greatest = (column: string) => `CASE WHEN ? > ${column} THEN ? ELSE ${column} END`;

const SESSION_RETURNING = 'RETURNING trace_count, first_time, last_time, last_end_time, first_trace_id, last_trace_id';
const SESSION_COUNT = `UPDATE sessions SET ${addCounters('sessions')} WHERE experiment_id = ? AND session_id = ? ${SESSION_RETURNING}`;
// Parameters: the first entering trace's time, time and id (EARLIER), the last's (LATER).
const EARLIER = '(? < sessions.first_time OR (? = sessions.first_time AND ? < sessions.first_trace_id))';
const LATER = '(? > sessions.last_time OR (? = sessions.last_time AND ? > sessions.last_trace_id))';
const sessionUpserts = new Map<number, string>();

/**
 * The upsert of a session that traces enter, with `staying` traces whose previews follow their
 * new values (a CASE arm each): built once per number of them.
 */
function sessionUpsert(staying: number): string {
  let text = sessionUpserts.get(staying);
  if (text === undefined) {
    const follow = (column: string, otherwise: string) => (staying === 0 ? otherwise : `CASE ${column} ${'WHEN ? THEN ? '.repeat(staying)}ELSE ${otherwise} END`);
    text = `INSERT INTO sessions (experiment_id, session_id, ${COUNTERS.join(', ')}, first_time, last_time, last_end_time, user_count,
        first_trace_id, first_request_preview, last_trace_id, last_response_preview)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)
      ON CONFLICT (experiment_id, session_id) DO UPDATE SET ${addCounters('sessions')},
        first_time = ${least('sessions.first_time')}, last_time = ${greatest('sessions.last_time')}, last_end_time = ${greatest('sessions.last_end_time')},
        first_trace_id = CASE WHEN ${EARLIER} THEN ? ELSE sessions.first_trace_id END,
        first_request_preview = CASE WHEN ${EARLIER} THEN ? ELSE ${follow('sessions.first_trace_id', 'sessions.first_request_preview')} END,
        last_trace_id = CASE WHEN ${LATER} THEN ? ELSE sessions.last_trace_id END,
        last_response_preview = CASE WHEN ${LATER} THEN ? ELSE ${follow('sessions.last_trace_id', 'sessions.last_response_preview')} END
      ${SESSION_RETURNING}`;
    sessionUpserts.set(staying, text);
  }
  return text;
}

/**
 * Step 2 for one session: locks its row by an upsert (or an update, when no trace enters) that
 * moves its counters and merges in the entering traces. Answers the row as it now is, if any.
 * All SET expressions read the row as it was, so the comparisons see the old first and last.
 */
async function countSession(db: Db, plan: KeyPlan): Promise<SessionRow | undefined> {
  const counters = counterValues(plan);
  if (plan.entering.length === 0) return (await runSql<SessionRow>(db, SESSION_COUNT, [...counters, plan.experimentId, plan.id])).rows[0];
  const { first, last, lastEnd } = extremes(plan.entering);
  const earlier = [first.requestTime, first.requestTime, first.traceId];
  const later = [last.requestTime, last.requestTime, last.traceId];
  const follow = (preview: (c: RollupContribution) => string | null) => plan.staying.flatMap((c) => [c.traceId, preview(c)]);
  const parameters = [
    plan.experimentId, plan.id, ...counters, first.requestTime, last.requestTime, lastEnd, first.traceId, first.requestPreview, last.traceId, last.responsePreview,
    ...counters,
    first.requestTime, first.requestTime, last.requestTime, last.requestTime, lastEnd, lastEnd,
    ...earlier, first.traceId,
    ...earlier, first.requestPreview, ...follow((c) => c.requestPreview),
    ...later, last.traceId,
    ...later, last.responsePreview, ...follow((c) => c.responsePreview),
  ];
  return (await runSql<SessionRow>(db, sessionUpsert(plan.staying.length), parameters)).rows[0];
}

const USER_RETURNING = 'RETURNING trace_count, first_time, last_time';
const USER_COUNT = `UPDATE users SET ${addCounters('users')} WHERE experiment_id = ? AND user_id = ? ${USER_RETURNING}`;
const USER_UPSERT = `INSERT INTO users (experiment_id, user_id, ${COUNTERS.join(', ')}, first_time, last_time, session_count)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
  ON CONFLICT (experiment_id, user_id) DO UPDATE SET ${addCounters('users')}, first_time = ${least('users.first_time')}, last_time = ${greatest('users.last_time')}
  ${USER_RETURNING}`;

/** Step 3 for one user, as `countSession`. */
async function countUser(db: Db, plan: KeyPlan): Promise<UserRow | undefined> {
  const counters = counterValues(plan);
  if (plan.entering.length === 0) return (await runSql<UserRow>(db, USER_COUNT, [...counters, plan.experimentId, plan.id])).rows[0];
  const { first, last } = extremes(plan.entering);
  const parameters = [plan.experimentId, plan.id, ...counters, first.requestTime, last.requestTime, ...counters, first.requestTime, first.requestTime, last.requestTime, last.requestTime];
  return (await runSql<UserRow>(db, USER_UPSERT, parameters)).rows[0];
}

/** Links a session and a user; true when they were not linked yet. */
async function insertLink(db: Db, link: { experimentId: number; sessionId: string; userId: string }): Promise<boolean> {
  const inserted = await insertRows(db, 'session_users', ['experiment_id', 'session_id', 'user_id'], [[link.experimentId, link.sessionId, link.userId]], 'ON CONFLICT DO NOTHING');
  return Number(inserted.numAffectedRows ?? 0) > 0;
}

/**
 * Unlinks a session and a user once no trace has both; true when a link was removed. The
 * session's row lock, held since step 2, keeps every other writer of the pair waiting.
 */
async function deleteLinkIfUnused(db: Db, link: { experimentId: number; sessionId: string; userId: string }): Promise<boolean> {
  const used = await db
    .selectFrom('traces')
    .select('trace_id')
    .where('experiment_id', '=', link.experimentId)
    .where('session_id', '=', link.sessionId)
    .where('user_id', '=', link.userId)
    .limit(1)
    .executeTakeFirst();
  if (used) return false;
  const deleted = await db
    .deleteFrom('session_users')
    .where('experiment_id', '=', link.experimentId)
    .where('session_id', '=', link.sessionId)
    .where('user_id', '=', link.userId)
    .executeTakeFirst();
  return Number(deleted.numDeletedRows) > 0;
}

/** Whether a trace that left may have been the one a row's first or last time came from. */
function timesMayBeStale(plan: KeyPlan, row: { first_time: number; last_time: number }): boolean {
  return plan.leaving.some((c) => c.requestTime <= Number(row.first_time) || c.requestTime >= Number(row.last_time));
}

/** A session's row after its links: deleted once it counts no trace, else its counts and times made whole. */
async function finishSession(db: Db, plan: KeyPlan, row: SessionRow | undefined, userCountDelta: number): Promise<void> {
  if (!row) return;
  if (Number(row.trace_count) <= 0) {
    await db.deleteFrom('sessions').where('experiment_id', '=', plan.experimentId).where('session_id', '=', plan.id).where('trace_count', '<=', 0).execute();
    return;
  }
  const leftIds = new Set(plan.leaving.map((c) => c.traceId));
  const times = timesMayBeStale(plan, row) || leftIds.has(row.first_trace_id) || leftIds.has(row.last_trace_id);
  const end = plan.leaving.some((c) => c.endTime >= Number(row.last_end_time));
  if (!times && !end && userCountDelta === 0) return;
  const ofSession = db.selectFrom('traces').where('experiment_id', '=', plan.experimentId).where('session_id', '=', plan.id);
  const first = times
    ? await ofSession.select(['trace_id', 'request_time', 'request_preview']).orderBy('request_time', 'asc').orderBy('trace_id', 'asc').limit(1).executeTakeFirstOrThrow()
    : undefined;
  const last = times
    ? await ofSession.select(['trace_id', 'request_time', 'response_preview']).orderBy('request_time', 'desc').orderBy('trace_id', 'desc').limit(1).executeTakeFirstOrThrow()
    : undefined;
  const lastEnd = end
    ? await ofSession.select((eb) => eb.fn.max<number>(sql`request_time + COALESCE(execution_duration, 0)`).as('t')).executeTakeFirstOrThrow()
    : undefined;
  const set = new ColumnUpdates();
  if (userCountDelta !== 0) set.add('user_count = user_count + ?', userCountDelta);
  if (first && last) {
    set.add('first_time = ?, first_trace_id = ?, first_request_preview = ?', first.request_time, first.trace_id, first.request_preview);
    set.add('last_time = ?, last_trace_id = ?, last_response_preview = ?', last.request_time, last.trace_id, last.response_preview);
  }
  if (lastEnd) set.add('last_end_time = ?', Number(lastEnd.t));
  await set.run(db, 'sessions', 'session_id', plan);
}

/**
 * The SET clause of an update of one session or user row, made of the parts a finish needs, run
 * as SQL text (a handful of shapes): a query built per call cost as much as its statement.
 */
class ColumnUpdates {
  private readonly parts: string[] = [];
  private readonly parameters: unknown[] = [];

  add(part: string, ...parameters: unknown[]): void {
    this.parts.push(part);
    this.parameters.push(...parameters);
  }

  async run(db: Db, table: 'sessions' | 'users', key: 'session_id' | 'user_id', plan: KeyPlan): Promise<void> {
    if (this.parts.length === 0) return;
    await runSql(db, `UPDATE ${table} SET ${this.parts.join(', ')} WHERE experiment_id = ? AND ${key} = ?`, [...this.parameters, plan.experimentId, plan.id]);
  }
}

/** A user's row after its links, as `finishSession`. */
async function finishUser(db: Db, plan: KeyPlan, row: UserRow | undefined, sessionCountDelta: number): Promise<void> {
  if (!row) return;
  if (Number(row.trace_count) <= 0) {
    await db.deleteFrom('users').where('experiment_id', '=', plan.experimentId).where('user_id', '=', plan.id).where('trace_count', '<=', 0).execute();
    return;
  }
  const times = timesMayBeStale(plan, row);
  if (!times && sessionCountDelta === 0) return;
  // The first and the last time each by a seek of the (experiment_id, user_id, request_time)
  // index: min() and max() in one statement make SQLite read all of the user's entries.
  const set = new ColumnUpdates();
  if (sessionCountDelta !== 0) set.add('session_count = session_count + ?', sessionCountDelta);
  if (times) {
    const ofUser = db.selectFrom('traces').select('request_time').where('experiment_id', '=', plan.experimentId).where('user_id', '=', plan.id);
    const first = (await ofUser.orderBy('request_time', 'asc').limit(1).executeTakeFirstOrThrow()).request_time;
    const last = (await ofUser.orderBy('request_time', 'desc').limit(1).executeTakeFirstOrThrow()).request_time;
    set.add('first_time = ?, last_time = ?', Number(first), Number(last));
  }
  await set.run(db, 'users', 'user_id', plan);
}

/**
 * Rebuilds the session and user rollups of the given keys (and of the users linked to those
 * sessions), their links and their feedback rollups from their traces and assessments: a repair,
 * and how fixtures written as raw rows get their rollups. Writers use `applyRollupChanges`; this
 * takes the same lock order, and upserts. Cost is proportional to the traces and feedback of
 * those sessions and users, through their indexes, and to the experiment's hours for their rows
 * of `user_hours` and `session_hours`. The hour rows of `trace_hours` and of the feedback
 * rollups are not rebuilt (feedback-rollups.ts has `recomputeFeedbackHours`).
 */
export async function recomputeRollups(db: Db, experimentId: number, sessionIds: Iterable<string>, userIds: Iterable<string>): Promise<void> {
  const sessions = [...new Set(sessionIds)].sort();
  const users = new Set(userIds);
  for (const sessionId of sessions) {
    const totals = await traceTotals(db, experimentId, 'session_id', sessionId);
    const ofSession = db.selectFrom('traces').where('experiment_id', '=', experimentId).where('session_id', '=', sessionId);
    const first = await ofSession.select(['trace_id', 'request_preview']).orderBy('request_time', 'asc').orderBy('trace_id', 'asc').limit(1).executeTakeFirst();
    const last = await ofSession.select(['trace_id', 'response_preview']).orderBy('request_time', 'desc').orderBy('trace_id', 'desc').limit(1).executeTakeFirst();
    const linked = await ofSession.select('user_id').distinct().where('user_id', 'is not', null).execute();
    const userIdsOf = linked.map((r) => r.user_id!);
    for (const userId of userIdsOf) users.add(userId);
    const stale = db.selectFrom('session_users').select('user_id').where('experiment_id', '=', experimentId).where('session_id', '=', sessionId);
    for (const row of await stale.execute()) users.add(row.user_id);
    if (!first || !last) {
      await db.deleteFrom('sessions').where('experiment_id', '=', experimentId).where('session_id', '=', sessionId).execute();
    } else {
      const values = {
        ...totals,
        user_count: userIdsOf.length,
        first_trace_id: first.trace_id,
        first_request_preview: first.request_preview,
        last_trace_id: last.trace_id,
        last_response_preview: last.response_preview,
      };
      await db
        .insertInto('sessions')
        .values({ experiment_id: experimentId, session_id: sessionId, ...values })
        .onConflict((oc) => oc.columns(['experiment_id', 'session_id']).doUpdateSet(values))
        .execute();
    }
  }
  const wanted = new Set<string>();
  const linked = new Set<string>();
  const pair = (sessionId: string, userId: string) => `${sessionId}\u0000${userId}`;
  for (const userId of [...users].sort()) {
    const { last_end_time: _unused, ...totals } = await traceTotals(db, experimentId, 'user_id', userId);
    const ofUser = await db.selectFrom('traces').select('session_id').distinct().where('experiment_id', '=', experimentId).where('user_id', '=', userId).where('session_id', 'is not', null).execute();
    for (const row of ofUser) wanted.add(pair(row.session_id!, userId));
    for (const row of await db.selectFrom('session_users').select('session_id').where('experiment_id', '=', experimentId).where('user_id', '=', userId).execute()) {
      linked.add(pair(row.session_id, userId));
    }
    if (totals.trace_count === 0) {
      await db.deleteFrom('users').where('experiment_id', '=', experimentId).where('user_id', '=', userId).execute();
    } else {
      const values = { ...totals, session_count: ofUser.length };
      await db
        .insertInto('users')
        .values({ experiment_id: experimentId, user_id: userId, ...values })
        .onConflict((oc) => oc.columns(['experiment_id', 'user_id']).doUpdateSet(values))
        .execute();
    }
  }
  for (const key of [...new Set([...wanted, ...linked])].sort()) {
    if (wanted.has(key) === linked.has(key)) continue;
    const [sessionId, userId] = key.split('\u0000') as [string, string];
    const link = { experimentId, sessionId, userId };
    if (wanted.has(key)) await insertLink(db, link);
    else await db.deleteFrom('session_users').where('experiment_id', '=', experimentId).where('session_id', '=', sessionId).where('user_id', '=', userId).execute();
  }
  // 5, for these keys only.
  await recomputeKeyHours(db, experimentId, 'user', [...users]);
  await recomputeKeyHours(db, experimentId, 'session', sessions);
  // 6, once the links are right: a session's own feedback counts for the users linked to it.
  await recomputeFeedbackRollups(db, experimentId, sessions, [...users].sort());
}

/** What a session's or a user's traces add up to, read through the (experiment, column, time) index. */
async function traceTotals(db: Db, experimentId: number, column: 'session_id' | 'user_id', id: string) {
  const row = await db
    .selectFrom('traces')
    .where('experiment_id', '=', experimentId)
    .where(column, '=', id)
    .select((eb) => [
      eb.fn.countAll<number>().as('trace_count'),
      eb.fn.min<number>('request_time').as('first_time'),
      eb.fn.max<number>('request_time').as('last_time'),
      eb.fn.max<number>(sql`request_time + COALESCE(execution_duration, 0)`).as('last_end_time'),
      eb.fn.sum<number>(sql`CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END`).as('error_count'),
      eb.fn.sum<number>(sql`COALESCE(input_tokens, 0)`).as('input_tokens'),
      eb.fn.sum<number>(sql`COALESCE(output_tokens, 0)`).as('output_tokens'),
      eb.fn.sum<number>(sql`COALESCE(total_tokens, 0)`).as('total_tokens'),
      eb.fn.sum<number>(sql`COALESCE(cost_nanos, 0)`).as('cost_nanos'),
    ])
    .executeTakeFirstOrThrow();
  // Aggregates come back as strings on PostgreSQL (numeric) and as null over no rows.
  return {
    trace_count: Number(row.trace_count),
    first_time: Number(row.first_time),
    last_time: Number(row.last_time),
    last_end_time: Number(row.last_end_time),
    error_count: Number(row.error_count),
    input_tokens: Number(row.input_tokens),
    output_tokens: Number(row.output_tokens),
    total_tokens: Number(row.total_tokens),
    cost_nanos: Number(row.cost_nanos),
  };
}

/** Rows per key of `trace_hours`: a few, so that one busy hour is not one hot row lock. */
const HOUR_SHARDS = 8;

/** The `trace_hours` row a trace is counted in. */
export function traceHourKey(c: Pick<RollupContribution, 'experimentId' | 'traceId' | 'requestTime' | 'durationMs'>) {
  let hash = 0;
  for (let i = 0; i < c.traceId.length; i++) hash = (Math.imul(hash, 31) + c.traceId.charCodeAt(i)) | 0;
  return { experiment_id: c.experimentId, hour_start: hourOf(c.requestTime), latency_bin: latencyBin(c.durationMs), shard: (hash >>> 0) % HOUR_SHARDS };
}

/**
 * Step 5: adds (sign 1) or takes away (sign -1) traces' counts in `trace_hours`, by difference,
 * so it is exact whatever changed (time, duration, state, tokens) and needs no recount. Changes
 * to one row are summed first and rows are written in key order.
 */
/** One trace_hours row moved by difference. */
const TRACE_HOUR_UPSERT = `INSERT INTO trace_hours (experiment_id, hour_start, latency_bin, shard, trace_count, error_count, input_tokens, output_tokens, total_tokens, cost_nanos)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (experiment_id, hour_start, latency_bin, shard) DO UPDATE SET trace_count = trace_hours.trace_count + ?, error_count = trace_hours.error_count + ?,
    input_tokens = trace_hours.input_tokens + ?, output_tokens = trace_hours.output_tokens + ?, total_tokens = trace_hours.total_tokens + ?, cost_nanos = trace_hours.cost_nanos + ?`;

async function shiftHours(db: Db, changes: readonly { c: RollupContribution; sign: 1 | -1 }[]): Promise<void> {
  const rows = new Map<string, { experiment_id: number; hour_start: number; latency_bin: number; shard: number; trace_count: number; error_count: number; input_tokens: number; output_tokens: number; total_tokens: number; cost_nanos: number }>();
  for (const { c, sign } of changes) {
    const key = traceHourKey(c);
    const id = `${String(key.experiment_id).padStart(20, '0')}:${String(key.hour_start).padStart(16, '0')}:${String(key.latency_bin + 1).padStart(3, '0')}:${key.shard}`;
    let row = rows.get(id);
    if (!row) rows.set(id, (row = { ...key, trace_count: 0, error_count: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0, cost_nanos: 0 }));
    row.trace_count += sign;
    row.error_count += c.isError ? sign : 0;
    row.input_tokens += sign * c.inputTokens;
    row.output_tokens += sign * c.outputTokens;
    row.total_tokens += sign * c.totalTokens;
    row.cost_nanos += sign * c.costNanos;
  }
  for (const id of [...rows.keys()].sort()) {
    const row = rows.get(id)!;
    if (row.trace_count === 0 && row.error_count === 0 && row.input_tokens === 0 && row.output_tokens === 0 && row.total_tokens === 0 && row.cost_nanos === 0) continue;
    const counters = [row.trace_count, row.error_count, row.input_tokens, row.output_tokens, row.total_tokens, row.cost_nanos];
    await runSql(db, TRACE_HOUR_UPSERT, [row.experiment_id, row.hour_start, row.latency_bin, row.shard, ...counters, ...counters]);
  }
}
