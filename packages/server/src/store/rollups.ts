import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';
import { hourOf, latencyBin } from './trace-metrics.js';

/**
 * What one trace adds to the `sessions`, `users` and `trace_hours` rollups. Rollups are kept in
 * the same transaction as the trace, so listing sessions or users, or charting a month, never
 * aggregates traces at read time.
 */
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
  requestPreview: string | null;
  responsePreview: string | null;
}

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Adds a new trace to its session's, user's and hour's rollups. Every statement is an atomic
 * upsert, so server replicas writing traces of the same session at once still count exactly; rows
 * are always locked in the order sessions, users, session_users, trace_hours, which keeps
 * concurrent writers from deadlocking.
 */
export async function addToRollups(db: Db, c: RollupContribution): Promise<void> {
  if (c.sessionId !== null) {
    await db
      .insertInto('sessions')
      .values({
        experiment_id: c.experimentId,
        session_id: c.sessionId,
        ...countersOf(c),
        last_end_time: c.endTime,
        user_count: 0,
        first_trace_id: c.traceId,
        first_request_preview: c.requestPreview,
        last_trace_id: c.traceId,
        last_response_preview: c.responsePreview,
      })
      .onConflict((oc) =>
        oc.columns(['experiment_id', 'session_id']).doUpdateSet({
          ...counterUpdates('sessions', c),
          // All SET expressions read the row as it was, so the comparisons below see the old times.
          first_trace_id: sql`CASE WHEN ${isEarlier(c, 'sessions.first_time', 'sessions.first_trace_id')} THEN ${c.traceId} ELSE sessions.first_trace_id END`,
          first_request_preview: sql`CASE WHEN ${isEarlier(c, 'sessions.first_time', 'sessions.first_trace_id')} THEN ${c.requestPreview} ELSE sessions.first_request_preview END`,
          last_trace_id: sql`CASE WHEN ${isLater(c, 'sessions.last_time', 'sessions.last_trace_id')} THEN ${c.traceId} ELSE sessions.last_trace_id END`,
          last_response_preview: sql`CASE WHEN ${isLater(c, 'sessions.last_time', 'sessions.last_trace_id')} THEN ${c.responsePreview} ELSE sessions.last_response_preview END`,
          last_end_time: sql`CASE WHEN ${c.endTime} > sessions.last_end_time THEN ${c.endTime} ELSE sessions.last_end_time END`,
        }),
      )
      .execute();
  }
  if (c.userId !== null) {
    await db
      .insertInto('users')
      .values({
        experiment_id: c.experimentId,
        user_id: c.userId,
        ...countersOf(c),
        session_count: 0,
      })
      .onConflict((oc) =>
        oc.columns(['experiment_id', 'user_id']).doUpdateSet(counterUpdates('users', c)),
      )
      .execute();
  }
  if (c.sessionId !== null && c.userId !== null) {
    const linked = await db
      .insertInto('session_users')
      .values({ experiment_id: c.experimentId, session_id: c.sessionId, user_id: c.userId })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(linked.numInsertedOrUpdatedRows ?? 0) > 0) {
      await db
        .updateTable('sessions')
        .set({ user_count: sql`user_count + 1` })
        .where('experiment_id', '=', c.experimentId)
        .where('session_id', '=', c.sessionId)
        .execute();
      await db
        .updateTable('users')
        .set({ session_count: sql`session_count + 1` })
        .where('experiment_id', '=', c.experimentId)
        .where('user_id', '=', c.userId)
        .execute();
    }
  }
  await shiftHours(db, [{ c, sign: 1 }]);
}

/** The columns sessions and users share, as a new row with one trace. */
function countersOf(c: RollupContribution) {
  return {
    first_time: c.requestTime,
    last_time: c.requestTime,
    trace_count: 1,
    error_count: c.isError ? 1 : 0,
    input_tokens: c.inputTokens,
    output_tokens: c.outputTokens,
    total_tokens: c.totalTokens,
  };
}

/** The same columns, as the upsert's update of an existing row of `table`. */
function counterUpdates(table: 'sessions' | 'users', c: RollupContribution) {
  const column = (name: string) => sql.ref(`${table}.${name}`);
  return {
    trace_count: sql<number>`${column('trace_count')} + 1`,
    first_time: sql<number>`CASE WHEN ${c.requestTime} < ${column('first_time')} THEN ${c.requestTime} ELSE ${column('first_time')} END`,
    last_time: sql<number>`CASE WHEN ${c.requestTime} > ${column('last_time')} THEN ${c.requestTime} ELSE ${column('last_time')} END`,
    ...deltaUpdates(c.isError ? 1 : 0, c.inputTokens, c.outputTokens, c.totalTokens, table),
  };
}

/** Counters that move by a difference, on a row of `table`. */
function deltaUpdates(errors: number, input: number, output: number, total: number, table: 'sessions' | 'users') {
  const column = (name: string) => sql.ref(`${table}.${name}`);
  return {
    error_count: sql<number>`${column('error_count')} + ${errors}`,
    input_tokens: sql<number>`${column('input_tokens')} + ${input}`,
    output_tokens: sql<number>`${column('output_tokens')} + ${output}`,
    total_tokens: sql<number>`${column('total_tokens')} + ${total}`,
  };
}

/** The trace comes before the row's first trace: earlier, or as early with a smaller id. */
function isEarlier(c: RollupContribution, timeColumn: string, idColumn: string) {
  return sql`(${c.requestTime} < ${sql.raw(timeColumn)} OR (${c.requestTime} = ${sql.raw(timeColumn)} AND ${c.traceId} < ${sql.raw(idColumn)}))`;
}

function isLater(c: RollupContribution, timeColumn: string, idColumn: string) {
  return sql`(${c.requestTime} > ${sql.raw(timeColumn)} OR (${c.requestTime} = ${sql.raw(timeColumn)} AND ${c.traceId} > ${sql.raw(idColumn)}))`;
}

/**
 * Rebuilds the rollups of the given sessions and users from their traces, after traces were
 * deleted or changed in a way increments cannot express (a moved time, a lost error).
 * Cost is proportional to the traces of those sessions and users, through their indexes.
 */
export async function recomputeRollups(
  db: Db,
  experimentId: number,
  sessionIds: Iterable<string>,
  userIds: Iterable<string>,
): Promise<void> {
  const users = new Set(userIds);
  for (const sessionId of new Set(sessionIds)) {
    await db.deleteFrom('session_users').where('experiment_id', '=', experimentId).where('session_id', '=', sessionId).execute();
    await db
      .insertInto('session_users')
      .columns(['experiment_id', 'session_id', 'user_id'])
      .expression((eb) =>
        eb
          .selectFrom('traces')
          .select([sql.lit(experimentId).as('experiment_id'), 'session_id', 'user_id'])
          .distinct()
          .where('experiment_id', '=', experimentId)
          .where('session_id', '=', sessionId)
          .where('user_id', 'is not', null),
      )
      .execute();
    for (const row of await db
      .selectFrom('session_users')
      .select('user_id')
      .where('experiment_id', '=', experimentId)
      .where('session_id', '=', sessionId)
      .execute()) {
      users.add(row.user_id);
    }
    await recomputeSession(db, experimentId, sessionId);
  }
  for (const userId of users) await recomputeUser(db, experimentId, userId);
}

async function recomputeSession(db: Db, experimentId: number, sessionId: string): Promise<void> {
  await db.deleteFrom('sessions').where('experiment_id', '=', experimentId).where('session_id', '=', sessionId).execute();
  const totals = await traceTotals(db, experimentId, 'session_id', sessionId);
  if (totals.trace_count === 0) return;
  const ofSession = db.selectFrom('traces').where('experiment_id', '=', experimentId).where('session_id', '=', sessionId);
  const first = await ofSession.select(['trace_id', 'request_preview']).orderBy('request_time', 'asc').orderBy('trace_id', 'asc').limit(1).executeTakeFirstOrThrow();
  const last = await ofSession.select(['trace_id', 'response_preview']).orderBy('request_time', 'desc').orderBy('trace_id', 'desc').limit(1).executeTakeFirstOrThrow();
  await db
    .insertInto('sessions')
    .values({
      experiment_id: experimentId,
      session_id: sessionId,
      ...totals,
      user_count: await linkCount(db, experimentId, 'session_id', sessionId),
      first_trace_id: first.trace_id,
      first_request_preview: first.request_preview,
      last_trace_id: last.trace_id,
      last_response_preview: last.response_preview,
    })
    .execute();
}

async function recomputeUser(db: Db, experimentId: number, userId: string): Promise<void> {
  await db.deleteFrom('users').where('experiment_id', '=', experimentId).where('user_id', '=', userId).execute();
  const { last_end_time: _unused, ...totals } = await traceTotals(db, experimentId, 'user_id', userId);
  if (totals.trace_count === 0) return;
  await db
    .insertInto('users')
    .values({ experiment_id: experimentId, user_id: userId, ...totals, session_count: await linkCount(db, experimentId, 'user_id', userId) })
    .execute();
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
  };
}

/** Distinct users of a session, or distinct sessions of a user. */
async function linkCount(db: Db, experimentId: number, column: 'session_id' | 'user_id', id: string): Promise<number> {
  const row = await db
    .selectFrom('session_users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('experiment_id', '=', experimentId)
    .where(column, '=', id)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Moves a trace's contribution after its row changed. When it stays in the same session and user
 * at the same time, counters move by difference and previews follow in O(1); anything else
 * rebuilds the affected sessions and users from their traces. Hours always move by difference.
 */
export async function moveInRollups(db: Db, was: RollupContribution, now: RollupContribution): Promise<void> {
  const sameShape =
    was.experimentId === now.experimentId &&
    was.sessionId === now.sessionId &&
    was.userId === now.userId &&
    was.requestTime === now.requestTime;
  if (!sameShape) {
    await recomputeRollups(
      db,
      now.experimentId,
      [was.sessionId, now.sessionId].flatMap((s) => s ?? []),
      [was.userId, now.userId].flatMap((u) => u ?? []),
    );
    if (was.experimentId !== now.experimentId) {
      await recomputeRollups(db, was.experimentId, [was.sessionId].flatMap((s) => s ?? []), [was.userId].flatMap((u) => u ?? []));
    }
    await shiftHours(db, [{ c: was, sign: -1 }, { c: now, sign: 1 }]);
    return;
  }
  const errors = (now.isError ? 1 : 0) - (was.isError ? 1 : 0);
  const input = now.inputTokens - was.inputTokens;
  const output = now.outputTokens - was.outputTokens;
  const total = now.totalTokens - was.totalTokens;
  if (now.sessionId !== null) {
    await db
      .updateTable('sessions')
      .set({
        ...deltaUpdates(errors, input, output, total, 'sessions'),
        last_end_time: sql`CASE WHEN ${now.endTime} > last_end_time THEN ${now.endTime} ELSE last_end_time END`,
        first_request_preview: sql`CASE WHEN first_trace_id = ${now.traceId} THEN ${now.requestPreview} ELSE first_request_preview END`,
        last_response_preview: sql`CASE WHEN last_trace_id = ${now.traceId} THEN ${now.responsePreview} ELSE last_response_preview END`,
      })
      .where('experiment_id', '=', now.experimentId)
      .where('session_id', '=', now.sessionId)
      .execute();
  }
  if (now.userId !== null) {
    await db
      .updateTable('users')
      .set(deltaUpdates(errors, input, output, total, 'users'))
      .where('experiment_id', '=', now.experimentId)
      .where('user_id', '=', now.userId)
      .execute();
  }
  await shiftHours(db, [{ c: was, sign: -1 }, { c: now, sign: 1 }]);
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
 * Adds (sign 1) or takes away (sign -1) traces' counts in `trace_hours`, by difference, so it is
 * exact whatever changed (time, duration, state, tokens) and needs no recount. Changes to one row
 * are summed first and rows are written in key order, so two transactions never wait on each
 * other's rows in opposite orders.
 */
export async function shiftHours(db: Db, changes: readonly { c: RollupContribution; sign: 1 | -1 }[]): Promise<void> {
  const rows = new Map<string, { experiment_id: number; hour_start: number; latency_bin: number; shard: number; trace_count: number; error_count: number; input_tokens: number; output_tokens: number; total_tokens: number }>();
  for (const { c, sign } of changes) {
    const key = traceHourKey(c);
    const id = `${key.experiment_id}:${String(key.hour_start).padStart(16, '0')}:${String(key.latency_bin + 1).padStart(3, '0')}:${key.shard}`;
    let row = rows.get(id);
    if (!row) rows.set(id, (row = { ...key, trace_count: 0, error_count: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0 }));
    row.trace_count += sign;
    row.error_count += c.isError ? sign : 0;
    row.input_tokens += sign * c.inputTokens;
    row.output_tokens += sign * c.outputTokens;
    row.total_tokens += sign * c.totalTokens;
  }
  for (const id of [...rows.keys()].sort()) {
    const row = rows.get(id)!;
    if (row.trace_count === 0 && row.error_count === 0 && row.input_tokens === 0 && row.output_tokens === 0 && row.total_tokens === 0) continue;
    const add = (column: 'trace_count' | 'error_count' | 'input_tokens' | 'output_tokens' | 'total_tokens') => sql<number>`${sql.ref(`trace_hours.${column}`)} + ${row[column]}`;
    await db
      .insertInto('trace_hours')
      .values(row)
      .onConflict((oc) =>
        oc.columns(['experiment_id', 'hour_start', 'latency_bin', 'shard']).doUpdateSet({
          trace_count: add('trace_count'),
          error_count: add('error_count'),
          input_tokens: add('input_tokens'),
          output_tokens: add('output_tokens'),
          total_tokens: add('total_tokens'),
        }),
      )
      .execute();
  }
}
