import { createHash, randomBytes } from 'node:crypto';
import { ASSESSMENT_ID_PREFIX } from '@threadline/protocol';
import type { Kysely, Transaction } from 'kysely';
import { invalidParameter } from '../errors.js';
import type { AssessmentChanges, AssessmentInput, StoredAssessment } from '../trace-model.js';
import { assessmentRow, storedAssessmentOf } from './assessment-rows.js';
import type { TransactionRunner } from './group-commit.js';
import type { Database } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';
import { lockTraceRow, TraceNotFoundError, type TraceRow } from './trace-rows.js';

type Db = Kysely<Database> | Transaction<Database>;

/** An assessment id that the trace does not have. The HTTP layer answers it with 404. */
export class AssessmentNotFoundError extends Error {
  constructor(
    readonly traceId: string,
    readonly assessmentId: string,
  ) {
    super(`Assessment with ID '${assessmentId}' not found for trace '${traceId}'.`);
    this.name = 'AssessmentNotFoundError';
  }
}

/** An assessment as it was (null: new) and as it is now (null: deleted), within one write. */
export interface AssessmentChange {
  was: StoredAssessment | null;
  now: StoredAssessment | null;
}

/**
 * Called inside the transaction of every write of assessments, once, with everything it changed
 * (an override changes two: the new one, and the overridden one turning invalid), after the
 * trace row is locked: where the feedback rollups join in, in the lock order of rollups.ts.
 */
export type AssessmentChangeHook = (trx: Transaction<Database>, trace: TraceRow, changes: readonly AssessmentChange[]) => Promise<void>;

/** A new assessment id: `a-` and 32 hex digits, MLflow's form. */
export function newAssessmentId(): string {
  return ASSESSMENT_ID_PREFIX + randomBytes(16).toString('hex');
}

/**
 * Writes of assessments (DESIGN.md §8, store by aggregate). Each is one transaction through the
 * store's runner that first locks the trace row (step 1 of the lock order in rollups.ts), so a
 * write of an assessment and any other write of its trace take turns, and a refused write
 * changes nothing.
 *
 * Overrides follow MLflow: a new assessment that `overrides` another of the same trace makes that
 * one invalid (it stays, for history, and is no longer found by `feedback.` filters); deleting
 * the override makes it valid again. Deleting an assessment that does not exist succeeds, as in
 * MLflow (a delete is idempotent).
 */
export class AssessmentWrites {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialect,
    private readonly transactions: TransactionRunner,
    private readonly onChange?: AssessmentChangeHook,
  ) {}

  /** Throws TraceNotFoundError, or AssessmentNotFoundError for an `overrides` the trace lacks. */
  async create(traceId: string, input: AssessmentInput): Promise<StoredAssessment> {
    return this.transactions.run(async (trx) => {
      const trace = await this.lockTrace(trx, traceId);
      const created = await insertAssessments(trx, trace, [{ ...input, assessmentId: newAssessmentId() }], 'refuse-missing-overridden');
      await this.onChange?.(trx, trace, created.changes);
      return created.stored[0]!;
    });
  }

  async get(traceId: string, assessmentId: string): Promise<StoredAssessment> {
    const trace = await this.db.selectFrom('traces').select('trace_id').where('trace_id', '=', traceId).executeTakeFirst();
    if (!trace) throw new TraceNotFoundError(traceId);
    const row = await findAssessment(this.db, traceId, assessmentId);
    if (!row) throw new AssessmentNotFoundError(traceId, assessmentId);
    return row;
  }

  /**
   * Applies `changes`; a value of the other kind (feedback on an expectation) is a 400. Metadata
   * is merged into the stored map, as MLflow does; `last_update_time` becomes now.
   */
  async update(traceId: string, assessmentId: string, changes: AssessmentChanges): Promise<StoredAssessment> {
    return this.transactions.run(async (trx) => {
      const trace = await this.lockTrace(trx, traceId);
      const was = await findAssessment(trx, traceId, assessmentId);
      if (!was) throw new AssessmentNotFoundError(traceId, assessmentId);
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
      await this.onChange?.(trx, trace, [{ was, now }]);
      return now;
    });
  }

  /** Deletes the assessment (nothing when it does not exist); its overridden one becomes valid again. */
  async delete(traceId: string, assessmentId: string): Promise<void> {
    return this.transactions.run(async (trx) => {
      const trace = await this.lockTrace(trx, traceId);
      const was = await findAssessment(trx, traceId, assessmentId);
      if (!was) return;
      await trx.deleteFrom('assessments').where('assessment_id', '=', assessmentId).execute();
      const changes: AssessmentChange[] = [{ was, now: null }];
      if (was.overrides !== null) {
        const restored = await restoreOverridden(trx, traceId, was.overrides);
        if (restored) changes.push(restored);
      }
      await this.onChange?.(trx, trace, changes);
    });
  }

  /**
   * Stores assessments logged inside a trace's info, in the transaction that logs the trace (its
   * row already locked). A retry stores nothing twice: an assessment without an id gets one
   * derived from the trace and its content, and an id already stored is left as it is. An
   * `overrides` naming an assessment the trace lacks is kept as a reference only.
   */
  async storeLogged(trx: Transaction<Database>, trace: TraceRow, inputs: readonly AssessmentInput[]): Promise<void> {
    if (inputs.length === 0) return;
    const withIds = inputs.map((input, i) => ({ ...input, assessmentId: input.assessmentId ?? loggedAssessmentId(trace.trace_id, input, i) }));
    const stored = new Set(
      (await trx.selectFrom('assessments').select('assessment_id').where('assessment_id', 'in', withIds.map((a) => a.assessmentId)).execute()).map((r) => r.assessment_id),
    );
    const fresh = withIds.filter((a, i) => !stored.has(a.assessmentId) && withIds.findIndex((b) => b.assessmentId === a.assessmentId) === i);
    if (fresh.length === 0) return;
    const { changes } = await insertAssessments(trx, trace, fresh, 'keep-reference');
    await this.onChange?.(trx, trace, changes);
  }

  private async lockTrace(trx: Db, traceId: string): Promise<TraceRow> {
    const trace = await lockTraceRow(trx, this.dialect, traceId);
    if (!trace) throw new TraceNotFoundError(traceId);
    return trace;
  }
}

/**
 * Inserts assessments of one trace (ids chosen) and applies their overrides, returning what
 * changed. An override of an assessment the trace lacks is refused whole, or kept as a plain
 * reference for logged traces (where the overridden one may simply not have been logged here).
 */
async function insertAssessments(
  trx: Db,
  trace: TraceRow,
  inputs: readonly (AssessmentInput & { assessmentId: string })[],
  missingOverridden: 'refuse-missing-overridden' | 'keep-reference',
): Promise<{ stored: StoredAssessment[]; changes: AssessmentChange[] }> {
  const now = Date.now();
  const stored = inputs.map(
    (input): StoredAssessment => ({
      assessmentId: input.assessmentId,
      traceId: trace.trace_id,
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
    const target = stored.find((b) => b.assessmentId === a.overrides) ?? (await findAssessment(trx, trace.trace_id, a.overrides));
    if (!target) {
      if (missingOverridden === 'refuse-missing-overridden') throw new AssessmentNotFoundError(trace.trace_id, a.overrides);
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
async function restoreOverridden(trx: Db, traceId: string, overriddenId: string): Promise<AssessmentChange | undefined> {
  const was = await findAssessment(trx, traceId, overriddenId);
  if (!was || was.valid) return undefined;
  const others = await trx.selectFrom('assessments').select('content').where('trace_id', '=', traceId).execute();
  if (others.some((r) => (JSON.parse(r.content) as { overrides?: string }).overrides === overriddenId)) return undefined;
  await trx.updateTable('assessments').set({ valid: 1 }).where('assessment_id', '=', overriddenId).execute();
  return { was, now: { ...was, valid: true } };
}

async function findAssessment(db: Db, traceId: string, assessmentId: string): Promise<StoredAssessment | undefined> {
  const row = await db
    .selectFrom('assessments')
    .selectAll()
    .where('assessment_id', '=', assessmentId)
    .where('trace_id', '=', traceId)
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
