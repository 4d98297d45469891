import { createHash, randomBytes } from 'node:crypto';
import { ASSESSMENT_ID_PREFIX, TraceMetadataKey } from '@threadline/protocol';
import { sql, type Kysely, type RawBuilder, type SqlBool, type Transaction } from 'kysely';
import { invalidParameter, notFound } from '../errors.js';
import type { AssessmentChanges, AssessmentInput, StoredAssessment } from '../trace-model.js';
import { assessmentRow, loadSessionAssessments, storedAssessmentOf } from './assessment-rows.js';
import { traceChange, type PublishingTransactions, type TraceChange } from './change-feed.js';
import type { Database } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';
import { lockTraceRow, TraceNotFoundError, type TraceRow } from './trace-rows.js';

type Db = Kysely<Database> | Transaction<Database>;

/** An assessment id that the trace or session does not have. The HTTP layer answers it with 404. */
export class AssessmentNotFoundError extends Error {
  constructor(
    /** `trace 'tr-…'` or `session 's-1'`. */
    readonly owner: string,
    readonly assessmentId: string,
  ) {
    super(`Assessment with ID '${assessmentId}' not found for ${owner}.`);
    this.name = 'AssessmentNotFoundError';
  }
}

/** An assessment as it was (null: new) and as it is now (null: deleted), within one write. */
export interface AssessmentChange {
  was: StoredAssessment | null;
  now: StoredAssessment | null;
}

/** What an assessment is on: a trace (its row locked), or a whole session (its row locked). */
export type AssessmentOwner = { kind: 'trace'; trace: TraceRow } | { kind: 'session'; experimentId: number; sessionId: string };

/** What a caller names: a trace, or a session of an experiment. */
export type AssessmentTarget = { traceId: string } | { experimentId: string; sessionId: string };

/**
 * Called inside the transaction of every write of assessments through the API, once, with
 * everything it changed (an override changes two: the new one, and the overridden one turning
 * invalid), after the owner's row is locked: where the feedback rollups join in, in the lock
 * order of rollups.ts.
 */
export type AssessmentChangeHook = (trx: Transaction<Database>, owner: AssessmentOwner, changes: readonly AssessmentChange[]) => Promise<void>;

let lastIdMs = 0;
let sameMsCount = 0;

/**
 * A new assessment id: `a-` and 32 hex digits, MLflow's form. The first 16 are the creation time
 * in ms and a counter within that ms, so that assessments, listed by (create_time, id), come back
 * in the order this process created them even within one millisecond; the rest are random.
 */
export function newAssessmentId(now = Date.now()): string {
  if (now === lastIdMs) sameMsCount++;
  else [lastIdMs, sameMsCount] = [now, 0];
  return ASSESSMENT_ID_PREFIX + now.toString(16).padStart(12, '0').slice(-12) + (sameMsCount & 0xffff).toString(16).padStart(4, '0') + randomBytes(8).toString('hex');
}

/**
 * Writes of assessments (DESIGN.md §8, store by aggregate), on a trace or on a whole session.
 * Each is one transaction through the store's runner that first locks the owner's row (a trace:
 * step 1 of the lock order in rollups.ts; a session: step 2), so a write of an assessment and any
 * other write of its owner take turns, and a refused write changes nothing.
 *
 * Overrides follow MLflow: a new assessment that `overrides` another of the same owner makes that
 * one invalid (it stays, for history, and is no longer found by `feedback.` filters); deleting
 * the override makes it valid again. Deleting an assessment that does not exist succeeds, as in
 * MLflow (a delete is idempotent).
 */
export class AssessmentWrites {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialect,
    private readonly transactions: PublishingTransactions,
    private readonly onChange?: AssessmentChangeHook,
  ) {}

  /**
   * Throws TraceNotFoundError (or a 404 ApiError for a session that does not exist), or
   * AssessmentNotFoundError for an `overrides` the owner lacks. A session's assessment names no
   * span, and carries metadata `mlflow.trace.session` as MLflow's session-scoped ones do.
   */
  async create(target: AssessmentTarget, input: AssessmentInput): Promise<StoredAssessment> {
    if (!('traceId' in target) && input.spanId !== null) throw invalidParameter("An assessment of a whole session cannot name a span ('span_id').");
    return this.transactions.run(async (trx, changed) => {
      const owner = await this.lockOwner(trx, target);
      const metadata = owner.kind === 'session' ? { [TraceMetadataKey.SESSION]: owner.sessionId, ...input.metadata } : input.metadata;
      const created = await insertAssessments(trx, owner, [{ ...input, metadata, assessmentId: newAssessmentId() }], 'refuse-missing-overridden');
      await this.onChange?.(trx, owner, created.changes);
      changed(changeOf(owner));
      return created.stored[0]!;
    });
  }

  async get(target: AssessmentTarget, assessmentId: string): Promise<StoredAssessment> {
    const owner = await this.findOwner(target);
    const row = await findAssessment(this.db, owner, assessmentId);
    if (!row) throw new AssessmentNotFoundError(ownerText(owner), assessmentId);
    return row;
  }

  /** A session's assessments, its own and those MLflow's convention puts on its traces; 404 for an unknown session. */
  async listForSession(experimentId: string, sessionId: string): Promise<StoredAssessment[]> {
    const owner = await this.findOwner({ experimentId, sessionId });
    return loadSessionAssessments(this.db, this.dialect, Number(experimentId), (owner as { sessionId: string }).sessionId);
  }

  /**
   * Applies `changes`; a value of the other kind (feedback on an expectation) is a 400. Metadata
   * is merged into the stored map, as MLflow does; `last_update_time` becomes now.
   */
  async update(target: AssessmentTarget, assessmentId: string, changes: AssessmentChanges): Promise<StoredAssessment> {
    return this.transactions.run(async (trx, changed) => {
      const owner = await this.lockOwner(trx, target);
      const was = await findAssessment(trx, owner, assessmentId);
      if (!was) throw new AssessmentNotFoundError(ownerText(owner), assessmentId);
      if (changes.value && changes.value.kind !== was.kind) {
        const article = was.kind === 'feedback' ? 'a Feedback' : 'an Expectation';
        throw invalidParameter(`Cannot update ${changes.value.kind} value on ${article} assessment ('${assessmentId}'). Nothing was changed.`);
      }
      const now: StoredAssessment = {
        ...was,
        ...(changes.name !== undefined ? { name: changes.name } : {}),
        ...(changes.value ? { value: changes.value.value, error: changes.value.error } : {}),
        ...(changes.rationale !== undefined ? { rationale: changes.rationale } : {}),
        ...(changes.metadata ? { metadata: { ...was.metadata, ...changes.metadata } } : {}),
        ...(changes.valid !== undefined ? { valid: changes.valid } : {}),
        lastUpdateTimeMs: Math.max(Date.now(), was.lastUpdateTimeMs + 1),
      };
      const { assessment_id: _id, ...columns } = assessmentRow(now);
      await trx.updateTable('assessments').set(columns).where('assessment_id', '=', assessmentId).execute();
      await this.onChange?.(trx, owner, [{ was, now }]);
      changed(changeOf(owner));
      return now;
    });
  }

  /** Deletes the assessment (nothing when it does not exist); its overridden one becomes valid again. */
  async delete(target: AssessmentTarget, assessmentId: string): Promise<void> {
    return this.transactions.run(async (trx, changed) => {
      const owner = await this.lockOwner(trx, target);
      const was = await findAssessment(trx, owner, assessmentId);
      if (!was) return;
      await trx.deleteFrom('assessments').where('assessment_id', '=', assessmentId).execute();
      const changes: AssessmentChange[] = [{ was, now: null }];
      if (was.overrides !== null) {
        const restored = await restoreOverridden(trx, owner, was.overrides);
        if (restored) changes.push(restored);
      }
      await this.onChange?.(trx, owner, changes);
      changed(changeOf(owner));
    });
  }

  /**
   * Stores assessments logged inside a trace's info, in the transaction that logs the trace (its
   * row already locked), and answers what changed: the caller counts it in the rollups with the
   * rest of its write, in one pass of the lock order. A retry stores nothing twice: an
   * assessment without an id gets one derived from the trace and its content, and an id already
   * stored is left as it is. An `overrides` naming an assessment the trace lacks is kept as a
   * reference only.
   */
  async storeLogged(trx: Transaction<Database>, trace: TraceRow, inputs: readonly AssessmentInput[]): Promise<AssessmentChange[]> {
    if (inputs.length === 0) return [];
    const withIds = inputs.map((input, i) => ({ ...input, assessmentId: input.assessmentId ?? loggedAssessmentId(trace.trace_id, input, i) }));
    const stored = new Set(
      (await trx.selectFrom('assessments').select('assessment_id').where('assessment_id', 'in', withIds.map((a) => a.assessmentId)).execute()).map((r) => r.assessment_id),
    );
    const fresh = withIds.filter((a, i) => !stored.has(a.assessmentId) && withIds.findIndex((b) => b.assessmentId === a.assessmentId) === i);
    if (fresh.length === 0) return [];
    return (await insertAssessments(trx, { kind: 'trace', trace }, fresh, 'keep-reference')).changes;
  }

  /** Step 1 (a trace's row) or 2 (a session's row) of the lock order, before anything is written. */
  private async lockOwner(trx: Db, target: AssessmentTarget): Promise<AssessmentOwner> {
    if ('traceId' in target) {
      const trace = await lockTraceRow(trx, this.dialect, target.traceId);
      if (!trace) throw new TraceNotFoundError(target.traceId);
      return { kind: 'trace', trace };
    }
    const query = trx.selectFrom('sessions').select(['experiment_id', 'session_id']).where('experiment_id', '=', Number(target.experimentId)).where('session_id', '=', target.sessionId);
    const row = await (this.dialect.name === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
    if (!row) throw sessionNotFound(target);
    return { kind: 'session', experimentId: Number(row.experiment_id), sessionId: row.session_id };
  }

  /** The owner, read without a lock. */
  private async findOwner(target: AssessmentTarget): Promise<AssessmentOwner> {
    if ('traceId' in target) {
      const trace = await this.db.selectFrom('traces').selectAll().where('trace_id', '=', target.traceId).executeTakeFirst();
      if (!trace) throw new TraceNotFoundError(target.traceId);
      return { kind: 'trace', trace };
    }
    const row = await this.db.selectFrom('sessions').select('session_id').where('experiment_id', '=', Number(target.experimentId)).where('session_id', '=', target.sessionId).executeTakeFirst();
    if (!row) throw sessionNotFound(target);
    return { kind: 'session', experimentId: Number(target.experimentId), sessionId: target.sessionId };
  }
}

function sessionNotFound(target: { experimentId: string; sessionId: string }) {
  return notFound(`Session '${target.sessionId}' not found in experiment ${target.experimentId}.`);
}

/** The change an assessment write makes: to its trace, or to its session as a whole. */
function changeOf(owner: AssessmentOwner): TraceChange {
  return owner.kind === 'trace'
    ? traceChange(owner.trace, 'assessment')
    : { experimentId: String(owner.experimentId), traceId: null, sessionId: owner.sessionId, userId: null, kind: 'assessment' };
}

function ownerText(owner: AssessmentOwner): string {
  return owner.kind === 'trace' ? `trace '${owner.trace.trace_id}'` : `session '${owner.sessionId}'`;
}

/** The rows of `owner`'s assessments, as a condition on `assessments`. */
function ownedBy(owner: AssessmentOwner): RawBuilder<SqlBool> {
  return owner.kind === 'trace'
    ? sql<SqlBool>`trace_id = ${owner.trace.trace_id}`
    : sql<SqlBool>`(trace_id IS NULL AND experiment_id = ${owner.experimentId} AND session_id = ${owner.sessionId})`;
}

/**
 * Inserts assessments of one owner (ids chosen) and applies their overrides, returning what
 * changed. An override of an assessment the owner lacks is refused whole, or kept as a plain
 * reference for logged traces (where the overridden one may simply not have been logged here).
 */
async function insertAssessments(
  trx: Db,
  owner: AssessmentOwner,
  inputs: readonly (AssessmentInput & { assessmentId: string })[],
  missingOverridden: 'refuse-missing-overridden' | 'keep-reference',
): Promise<{ stored: StoredAssessment[]; changes: AssessmentChange[] }> {
  const now = Date.now();
  const stored = inputs.map(
    (input): StoredAssessment => ({
      assessmentId: input.assessmentId,
      traceId: owner.kind === 'trace' ? owner.trace.trace_id : null,
      session: owner.kind === 'session' ? { experimentId: String(owner.experimentId), sessionId: owner.sessionId } : null,
      name: input.name,
      kind: input.kind,
      value: input.value,
      error: input.error,
      spanId: input.spanId,
      source: input.source,
      rationale: input.rationale,
      metadata: input.metadata,
      overrides: input.overrides,
      valid: true,
      createTimeMs: input.createTimeMs ?? now,
      lastUpdateTimeMs: input.lastUpdateTimeMs ?? input.createTimeMs ?? now,
    }),
  );
  const changes: AssessmentChange[] = [];
  const overridden: StoredAssessment[] = [];
  for (const a of stored) {
    if (a.overrides === null) continue;
    // One logged earlier in the same list may be the overridden one.
    const target = stored.find((b) => b.assessmentId === a.overrides) ?? (await findAssessment(trx, owner, a.overrides));
    if (!target) {
      if (missingOverridden === 'refuse-missing-overridden') throw new AssessmentNotFoundError(ownerText(owner), a.overrides);
      continue;
    }
    if (stored.includes(target)) target.valid = false;
    else if (target.valid && !overridden.some((o) => o.assessmentId === target.assessmentId)) overridden.push(target);
  }
  await trx.insertInto('assessments').values(stored.map(assessmentRow)).execute();
  for (const was of overridden) {
    await trx.updateTable('assessments').set({ valid: 0 }).where('assessment_id', '=', was.assessmentId).execute();
    changes.push({ was, now: { ...was, valid: false } });
  }
  changes.push(...stored.map((now) => ({ was: null, now })));
  return { stored, changes };
}

/** The overridden assessment made valid again once nothing overrides it any more. */
async function restoreOverridden(trx: Db, owner: AssessmentOwner, overriddenId: string): Promise<AssessmentChange | undefined> {
  const was = await findAssessment(trx, owner, overriddenId);
  if (!was || was.valid) return undefined;
  const others = await trx.selectFrom('assessments').select('content').where(ownedBy(owner)).execute();
  if (others.some((r) => (JSON.parse(r.content) as { overrides?: string }).overrides === overriddenId)) return undefined;
  await trx.updateTable('assessments').set({ valid: 1 }).where('assessment_id', '=', overriddenId).execute();
  return { was, now: { ...was, valid: true } };
}

async function findAssessment(db: Db, owner: AssessmentOwner, assessmentId: string): Promise<StoredAssessment | undefined> {
  const row = await db
    .selectFrom('assessments')
    .selectAll()
    .where('assessment_id', '=', assessmentId)
    .where(ownedBy(owner))
    .where('kind', 'in', ['feedback', 'expectation'])
    .executeTakeFirst();
  return row && storedAssessmentOf(row);
}

/** A stable id for an assessment logged without one: the same on every retry of the same log. */
function loggedAssessmentId(traceId: string, input: AssessmentInput, position: number): string {
  const { createTimeMs: _c, lastUpdateTimeMs: _u, ...content } = input;
  const digest = createHash('sha256').update(JSON.stringify([traceId, position, content])).digest('hex');
  return ASSESSMENT_ID_PREFIX + digest.slice(0, 32);
}
