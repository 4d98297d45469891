import { sql, type Kysely, type Transaction } from 'kysely';
import type { StoredAssessment } from '../trace-model.js';
import { storedAssessmentOf, type AssessmentRow } from './assessment-rows.js';
import { placeholders, runSql } from './fast-sql.js';
import type { AssessmentChange, AssessmentOwner } from './assessments.js';
import type { RollupChange, RollupContribution } from './rollups.js';
import type { Database } from './schema.js';
import { hourOf } from './trace-metrics.js';
import type { TraceRow } from './trace-rows.js';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * The feedback rollups (`feedback_rollups`, schema.ts): per session, user and hour, and per
 * feedback name, how much valid feedback there is, how much of it says yes and no, and the sum of
 * the numeric ones. Kept by difference in the transaction that changes an assessment or a trace,
 * so that they stay exact through overrides (the overridden one stops counting), deletes and
 * trace deletes, and a filter or order over them reads one row per session or user.
 *
 * Where valid feedback counts:
 * - feedback on a trace: in the trace's session and in its user (when it has them);
 * - feedback on a whole session: in the session, and in every user of it (`session_users`), so
 *   a user who joins the session later gains it and one whose last trace of it goes loses it;
 * - every feedback: in the hour it was created (`hour`: "feedback given over time").
 *
 * Lock order (rollups.ts): these rows are step 6, after `trace_hours`, written once per
 * transaction in key order by {@link FeedbackDeltas.apply}.
 */

/** What one feedback adds to a rollup row. */
export interface FeedbackCounts {
  count: number;
  true_count: number;
  false_count: number;
  numeric_count: number;
  numeric_sum: number;
}

const ZERO: FeedbackCounts = { count: 0, true_count: 0, false_count: 0, numeric_count: 0, numeric_sum: 0 };
const COLUMNS = Object.keys(ZERO) as (keyof FeedbackCounts)[];

/**
 * What an assessment counts for, or undefined when it counts for nothing (an expectation, or
 * feedback another one overrides). `true` and "yes" are positive, `false` and "no" negative (MLflow's
 * judges answer "yes" / "no"); finite numbers are summed.
 *
 * @example
 * feedbackCounts({ kind: 'feedback', valid: true, value: 'No' }); // { count: 1, false_count: 1, ... }
 */
export function feedbackCounts(a: Pick<StoredAssessment, 'kind' | 'valid' | 'value'>): FeedbackCounts | undefined {
  if (a.kind !== 'feedback' || !a.valid) return undefined;
  const text = typeof a.value === 'string' ? a.value.trim().toLowerCase() : undefined;
  const yes = a.value === true || text === 'yes';
  const no = a.value === false || text === 'no';
  const numeric = typeof a.value === 'number' && Number.isFinite(a.value);
  return { count: 1, true_count: yes ? 1 : 0, false_count: no ? 1 : 0, numeric_count: numeric ? 1 : 0, numeric_sum: numeric ? (a.value as number) : 0 };
}

/** The `key` of an hour row: its start in ms, zero-padded so that text order is time order. */
export function feedbackHourKey(timeMs: number): string {
  return String(hourOf(timeMs)).padStart(15, '0');
}

/** Where a trace's or a session's feedback counts, besides the hour it was given. */
export interface FeedbackPlace {
  experimentId: number;
  sessionId: string | null;
  userIds: readonly string[];
}

type FeedbackScope = 'session' | 'user' | 'hour';
type RowKey = { experiment_id: number; scope: FeedbackScope; key: string; name: string };
type Row = RowKey & FeedbackCounts;

/** A row's sort and map key: its primary key, compared as a string by every transaction alike. */
function rowId(row: RowKey): string {
  return `${String(row.experiment_id).padStart(20, '0')}\u0000${row.scope}\u0000${row.key}\u0000${row.name}`;
}

const isZero = (row: FeedbackCounts) => COLUMNS.every((c) => row[c] === 0);

/**
 * The changes one transaction makes to the feedback rollups, summed per row, then written once
 * in key order (step 6 of the lock order), so that two transactions never wait on each other's
 * rows in opposite orders.
 */
export class FeedbackDeltas {
  private readonly rows = new Map<string, Row>();

  /** Adds (sign 1) or takes away (sign -1) what `a` counts for, at `place`; hour rows only when `hours`. */
  addAssessment(place: FeedbackPlace, a: StoredAssessment | null, sign: 1 | -1, scopes: { hours: boolean } = { hours: true }): void {
    const counts = a && feedbackCounts(a);
    if (!a || !counts) return;
    if (place.sessionId !== null) this.add({ experiment_id: place.experimentId, scope: 'session', key: place.sessionId, name: a.name }, counts, sign);
    for (const userId of place.userIds) this.add({ experiment_id: place.experimentId, scope: 'user', key: userId, name: a.name }, counts, sign);
    if (scopes.hours) this.add({ experiment_id: place.experimentId, scope: 'hour', key: feedbackHourKey(a.createTimeMs), name: a.name }, counts, sign);
  }

  /** Adds what one write of assessments changed: each `was` taken away and each `now` added, at `place`. */
  addChanges(place: FeedbackPlace, changes: readonly { was: StoredAssessment | null; now: StoredAssessment | null }[]): void {
    for (const { was, now } of changes) {
      this.addAssessment(place, was, -1);
      this.addAssessment(place, now, 1);
    }
  }

  /** Step 6: upserts every row changed, in key order; rows that net to nothing are not touched. */
  async apply(db: Db): Promise<void> {
    for (const id of [...this.rows.keys()].sort()) {
      const row = this.rows.get(id)!;
      if (!isZero(row)) await upsertRow(db, row, 'add');
    }
    this.rows.clear();
  }

  /**
   * Step 6 of a repair: makes the rows of `places` (a scope and key each, every feedback name)
   * what these sums say, which must then be totals over those places rather than changes: a
   * name they lack is deleted there. Rows are written and deleted in key order.
   */
  async replace(db: Db, experimentId: number, places: readonly { scope: FeedbackScope; key: string }[]): Promise<void> {
    const stored = new Map<string, RowKey>();
    for (const scope of ['session', 'user', 'hour'] as const) {
      for (const keys of chunks(places.filter((p) => p.scope === scope).map((p) => p.key))) {
        const rows = await db.selectFrom('feedback_rollups').select(['key', 'name']).where('experiment_id', '=', experimentId).where('scope', '=', scope).where('key', 'in', keys).execute();
        for (const { key, name } of rows) stored.set(rowId({ experiment_id: experimentId, scope, key, name }), { experiment_id: experimentId, scope, key, name });
      }
    }
    for (const id of [...new Set([...stored.keys(), ...this.rows.keys()])].sort()) {
      const row = this.rows.get(id);
      const old = stored.get(id);
      if (row && !isZero(row)) await upsertRow(db, row, 'set');
      else if (old) {
        await db
          .deleteFrom('feedback_rollups')
          .where('experiment_id', '=', old.experiment_id)
          .where('scope', '=', old.scope)
          .where('key', '=', old.key)
          .where('name', '=', old.name)
          .execute();
      }
    }
    this.rows.clear();
  }

  private add(key: RowKey, counts: FeedbackCounts, sign: 1 | -1): void {
    const id = rowId(key);
    let row = this.rows.get(id);
    if (!row) this.rows.set(id, (row = { ...key, ...ZERO }));
    for (const c of COLUMNS) row[c] += sign * counts[c];
  }
}

/** Inserts a row or, when it is stored, adds its counts to the stored ones ('add') or puts them in their place ('set'). */
async function upsertRow(db: Db, row: Row, mode: 'add' | 'set'): Promise<void> {
  const value = (c: keyof FeedbackCounts) => (mode === 'add' ? sql<number>`${sql.ref(`feedback_rollups.${c}`)} + ${row[c]}` : row[c]);
  await db
    .insertInto('feedback_rollups')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['experiment_id', 'scope', 'key', 'name']).doUpdateSet({
        count: value('count'),
        true_count: value('true_count'),
        false_count: value('false_count'),
        numeric_count: value('numeric_count'),
        numeric_sum: value('numeric_sum'),
      }),
    )
    .execute();
}

/** Large id lists are read in chunks, well under every database's bound-parameter limit. */
const ID_CHUNK = 500;

function* chunks<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += ID_CHUNK) yield items.slice(i, i + ID_CHUNK);
}

/**
 * What trace changes do to the feedback rollups: a trace that leaves its session or user (it gains
 * one, or is deleted) takes its valid feedback with it. Read before the transaction changes the
 * traces' assessments (a delete reads them before deleting them); traces that keep their session
 * and user cost no read.
 */
export async function traceFeedbackMoves(db: Db, changes: readonly RollupChange[], into: FeedbackDeltas = new FeedbackDeltas()): Promise<FeedbackDeltas> {
  const moved = changes.filter(({ was, now }) => was !== null && (now === null || now.sessionId !== was.sessionId || now.userId !== was.userId));
  for (const chunk of chunks(moved)) {
    const rows = await db
      .selectFrom('assessments')
      .selectAll()
      .where('trace_id', 'in', chunk.map((c) => c.was!.traceId))
      .where('kind', '=', 'feedback')
      .where('valid', '=', 1)
      .execute();
    const byTrace = new Map(chunk.map((c) => [c.was!.traceId, c]));
    for (const row of rows) {
      const { was, now } = byTrace.get(row.trace_id!)!;
      const a = storedAssessmentOf(row);
      // The hour a feedback was given does not move with its trace; it goes only with a delete.
      into.addAssessment(contributionPlace(was!), a, -1, { hours: now === null });
      if (now) into.addAssessment(contributionPlace(now), a, 1, { hours: false });
    }
  }
  return into;
}

function contributionPlace(c: RollupContribution): FeedbackPlace {
  return { experimentId: c.experimentId, sessionId: c.sessionId, userIds: c.userId === null ? [] : [c.userId] };
}

/**
 * A session's own valid feedback added to (sign 1) or taken from (sign -1) one user: what linking
 * or unlinking them changes. Called by the holder of the session's row lock (step 4).
 */
export async function linkFeedback(db: Db, link: { experimentId: number; sessionId: string; userId: string }, sign: 1 | -1, into: FeedbackDeltas): Promise<void> {
  for (const a of await sessionFeedback(db, link.experimentId, [link.sessionId])) {
    into.addAssessment({ experimentId: link.experimentId, sessionId: null, userIds: [link.userId] }, a, sign, { hours: false });
  }
}

/** The valid feedback stored on the given sessions themselves (each names its session in `session`). */
async function sessionFeedback(db: Db, experimentId: number, sessionIds: readonly string[]): Promise<StoredAssessment[]> {
  const out: StoredAssessment[] = [];
  for (const chunk of chunks(sessionIds)) {
    // As SQL text: this runs for every new link of a session and a user, on the ingest path.
    const { rows } = await runSql<AssessmentRow>(
      db,
      `SELECT * FROM assessments WHERE experiment_id = ? AND session_id IN (${placeholders(chunk.length)}) AND trace_id IS NULL AND kind = 'feedback' AND valid = 1`,
      [experimentId, ...chunk],
    );
    out.push(...rows.map(storedAssessmentOf));
  }
  return out;
}

/** Where feedback on a trace counts. */
export function feedbackPlaceOf(trace: Pick<TraceRow, 'experiment_id' | 'session_id' | 'user_id'>): FeedbackPlace {
  return { experimentId: Number(trace.experiment_id), sessionId: trace.session_id, userIds: trace.user_id === null ? [] : [trace.user_id] };
}

/**
 * Counts one write of assessments in the feedback rollups: the `AssessmentChangeHook` of the
 * store. A session's own feedback counts for the session and each of its users, read under the
 * session's row lock, which every writer of its links holds.
 */
export async function countAssessmentChanges(trx: Db, owner: AssessmentOwner, changes: readonly AssessmentChange[]): Promise<void> {
  const place =
    owner.kind === 'trace'
      ? feedbackPlaceOf(owner.trace)
      : { experimentId: owner.experimentId, sessionId: owner.sessionId, userIds: await sessionUserIds(trx, owner.experimentId, owner.sessionId) };
  const deltas = new FeedbackDeltas();
  deltas.addChanges(place, changes);
  await deltas.apply(trx);
}

/** The users linked to a session, sorted: where its own feedback counts besides the session. */
export async function sessionUserIds(db: Db, experimentId: number, sessionId: string): Promise<string[]> {
  const rows = await db.selectFrom('session_users').select('user_id').where('experiment_id', '=', experimentId).where('session_id', '=', sessionId).orderBy('user_id').execute();
  return rows.map((r) => r.user_id);
}

/**
 * Fills the feedback rollups from the assessments already stored (migration 005): the valid
 * feedback of every trace, at its trace's session and user and the hour it was given.
 */
export async function backfillFeedbackRollups(db: Kysely<Database>): Promise<void> {
  const deltas = new FeedbackDeltas();
  const rows = await db
    .selectFrom('assessments as a')
    .innerJoin('traces as t', 't.trace_id', 'a.trace_id')
    .selectAll('a')
    .select(['t.experiment_id as trace_experiment_id', 't.session_id as trace_session_id', 't.user_id as trace_user_id'])
    .where('a.kind', '=', 'feedback')
    .where('a.valid', '=', 1)
    .execute();
  for (const row of rows) {
    const place = { experimentId: Number(row.trace_experiment_id), sessionId: row.trace_session_id, userIds: row.trace_user_id === null ? [] : [row.trace_user_id] };
    deltas.addAssessment(place, storedAssessmentOf(row), 1);
  }
  await deltas.apply(db);
}

/**
 * Rebuilds the session and user rows of the feedback rollups (every name) of the given sessions
 * and users from the assessments, by the rules the writes follow: the valid feedback on their
 * traces, and a session's own in the session and in each user `session_users` links to it. The
 * feedback part of `recomputeRollups`, called once that has made the links of these sessions and
 * users right. Hour rows are keyed by neither: {@link recomputeFeedbackHours} rebuilds them.
 * Cost: the feedback of these sessions, of their traces and of the users' traces and sessions,
 * read through indexes.
 */
export async function recomputeFeedbackRollups(db: Db, experimentId: number, sessionIds: readonly string[], userIds: readonly string[]): Promise<void> {
  const totals = new FeedbackDeltas();
  const inSession = (sessionId: string): FeedbackPlace => ({ experimentId, sessionId, userIds: [] });
  const ofUsers = (userIds: readonly string[]): FeedbackPlace => ({ experimentId, sessionId: null, userIds });
  // Each read counts in one scope only: a trace of one of the sessions and one of the users is read twice.
  for (const { owner, a } of await traceFeedback(db, experimentId, 'session_id', sessionIds)) totals.addAssessment(inSession(owner), a, 1, { hours: false });
  for (const a of await sessionFeedback(db, experimentId, sessionIds)) totals.addAssessment(inSession(a.session!.sessionId), a, 1, { hours: false });
  for (const { owner, a } of await traceFeedback(db, experimentId, 'user_id', userIds)) totals.addAssessment(ofUsers([owner]), a, 1, { hours: false });
  const usersOfSession = new Map<string, string[]>();
  for (const chunk of chunks(userIds)) {
    const links = await db.selectFrom('session_users').select(['session_id', 'user_id']).where('experiment_id', '=', experimentId).where('user_id', 'in', chunk).execute();
    for (const { session_id, user_id } of links) usersOfSession.set(session_id, [...(usersOfSession.get(session_id) ?? []), user_id]);
  }
  for (const a of await sessionFeedback(db, experimentId, [...usersOfSession.keys()])) totals.addAssessment(ofUsers(usersOfSession.get(a.session!.sessionId)!), a, 1, { hours: false });
  const places = [...sessionIds.map((key) => ({ scope: 'session' as const, key })), ...userIds.map((key) => ({ scope: 'user' as const, key }))];
  await totals.replace(db, experimentId, places);
}

/** The valid feedback on the experiment's traces whose `column` is one of `owners`, each with that owner. */
async function traceFeedback(db: Db, experimentId: number, column: 'session_id' | 'user_id', owners: readonly string[]): Promise<{ owner: string; a: StoredAssessment }[]> {
  const out: { owner: string; a: StoredAssessment }[] = [];
  for (const chunk of chunks(owners)) {
    const rows = await db
      .selectFrom('assessments as a')
      .innerJoin('traces as t', 't.trace_id', 'a.trace_id')
      .selectAll('a')
      .select(sql<string>`${sql.ref(`t.${column}`)}`.as('owner'))
      .where('t.experiment_id', '=', experimentId)
      .where(sql.ref(`t.${column}`), 'in', chunk)
      .where('a.kind', '=', 'feedback')
      .where('a.valid', '=', 1)
      .execute();
    out.push(...rows.map((row) => ({ owner: row.owner, a: storedAssessmentOf(row) })));
  }
  return out;
}

/**
 * Rebuilds the experiment's hour rows of the feedback rollups from its valid feedback, on its
 * traces and on its sessions, each in the hour it was given. An hour holds feedback of any
 * trace, with or without a session or user, so this reads all of the experiment's feedback: the
 * repair for when the hours themselves are in doubt, apart from `recomputeRollups`, whose cost
 * follows the sessions and users it is given.
 */
export async function recomputeFeedbackHours(db: Db, experimentId: number): Promise<void> {
  const onTraces = await db
    .selectFrom('assessments as a')
    .innerJoin('traces as t', 't.trace_id', 'a.trace_id')
    .selectAll('a')
    .where('t.experiment_id', '=', experimentId)
    .where('a.kind', '=', 'feedback')
    .where('a.valid', '=', 1)
    .execute();
  const onSessions = await db
    .selectFrom('assessments')
    .selectAll()
    .where('experiment_id', '=', experimentId)
    .where('trace_id', 'is', null)
    .where('kind', '=', 'feedback')
    .where('valid', '=', 1)
    .execute();
  const totals = new FeedbackDeltas();
  const hours = new Set<string>();
  for (const a of [...onTraces, ...onSessions].map(storedAssessmentOf)) {
    totals.addAssessment({ experimentId, sessionId: null, userIds: [] }, a, 1);
    hours.add(feedbackHourKey(a.createTimeMs));
  }
  const stored = await db.selectFrom('feedback_rollups').select('key').where('experiment_id', '=', experimentId).where('scope', '=', 'hour').execute();
  for (const { key } of stored) hours.add(key);
  await totals.replace(db, experimentId, [...hours].map((key) => ({ scope: 'hour' as const, key })));
}
