import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as letOthersIn, setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { AssessedSession } from '../trace-model.js';
import { storedAssessmentOf } from './assessment-rows.js';
import { repeatInBackground } from './background.js';
import { FeedbackDeltas } from './feedback-rollups.js';
import type { PublishingTransactions } from './change-feed.js';
import type { Database, ErasuresTable } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';
import { deleteTracesIn } from './trace-writes.js';

/** What an erase removes: every trace of a user, or of a session. */
export type ErasureKind = 'user' | 'session';

/** A receipt: what was erased, when, by whom, and how much, without any of the erased data. */
export interface ErasureReceipt {
  erasureId: string;
  kind: ErasureKind;
  /** SHA-256 (hex) of `<kind>:<id>`: whoever holds the id can check the receipt is about it. */
  subjectDigest: string;
  experimentIds: string[];
  requestedBy: string;
  requestedTimeMs: number;
  completedTimeMs: number | null;
  state: 'running' | 'complete';
  /** Rows deleted, per kind: traces, spans, trace_metadata, trace_tags, assessments, llm_calls, ... */
  counts: Record<string, number>;
  /** Hash chain over the erased trace ids, oldest first by (request_time, trace_id) (see `chainDigest`). */
  traceIdsDigest: string;
}

/**
 * Traces per transaction. On SQLite a batch holds the write lock and the event loop while it
 * runs, and ingest waits for it: in a 1M-trace database 10 traces take under 10 ms on a quiet
 * machine; 50 took 40 to 100 ms, more with the automatic checkpoints their pages brought on (bench:privacy).
 */
export const ERASE_BATCH = 10;
/** How long a running erase is its runner's by default; a lapsed lease is a crashed runner's, to be resumed. */
export const DEFAULT_ERASE_LEASE_MS = 30_000;
const EMPTY_DIGEST = '0'.repeat(64);

export function subjectDigest(kind: ErasureKind, id: string): string {
  return createHash('sha256').update(`${kind}:${id}`).digest('hex');
}

/** The chain `d = sha256(d + id)` over trace ids, from 64 zeros: checkable by anyone with the ids. */
export function chainDigest(from: string, traceIds: readonly string[]): string {
  let digest = from;
  for (const id of traceIds) digest = createHash('sha256').update(digest).update(id).digest('hex');
  return digest;
}

/** Deletes of assessments through the store's own path, which keeps the feedback rollups. */
export interface AssessmentDeletes {
  deleteAssessment(traceId: string, assessmentId: string): Promise<void>;
  deleteSessionAssessment(session: AssessedSession, assessmentId: string): Promise<void>;
}

/**
 * Erasing a user's or a session's data (DESIGN.md §8): every trace of the subject in the named
 * experiments, with its spans, metadata, tags, assessments and LLM calls, in batches of
 * {@link ERASE_BATCH} traces, each one transaction that moves every rollup exactly (the delete
 * path of trace-writes.ts: sessions shared with others keep their other turns; emptied sessions
 * and the user's row go). Then the assessments the subject gave (`source_id`, for a user) and the
 * assessments of sessions left without traces. The receipt row is written with each batch, so an
 * erase that stops (a crash) resumes where it was: `resumeUnfinished` finds it by its lapsed lease.
 * On SQLite the file overwrites deleted content (secure_delete) and the WAL is checkpointed at the end.
 */
export class Erasures {
  /** How long a runner holds an erase between batches (THREADLINE_ERASE_LEASE_MS). */
  leaseMs = DEFAULT_ERASE_LEASE_MS;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: SqlDialect,
    private readonly transactions: PublishingTransactions,
    private readonly assessments: AssessmentDeletes,
  ) {}

  /** Records a new erase (running, leased to this process) and answers its id. */
  async start(kind: ErasureKind, subject: string, experimentIds: readonly string[], requestedBy: string, now = Date.now()): Promise<string> {
    const erasureId = `er-${randomBytes(16).toString('hex')}`;
    await this.db
      .insertInto('erasures')
      .values({
        erasure_id: erasureId,
        kind,
        subject,
        subject_digest: subjectDigest(kind, subject),
        experiment_ids: JSON.stringify([...new Set(experimentIds)].sort((a, b) => Number(a) - Number(b))),
        requested_by: requestedBy,
        requested_time: now,
        completed_time: null,
        state: 'running',
        lease_until: now + this.leaseMs,
        counts: JSON.stringify({}),
        trace_ids_digest: EMPTY_DIGEST,
      })
      .execute();
    return erasureId;
  }

  /** Runs an erase to its end (batch by batch) and answers its receipt. */
  async run(erasureId: string, options: { batchSize?: number; afterBatch?: () => Promise<void> } = {}): Promise<ErasureReceipt> {
    // The experiments that hold traces of the subject: batches look in these only (one index
    // seek each), and when they hold none any more, every experiment is looked at once again.
    let holding = await this.experimentsHolding(erasureId);
    for (;;) {
      const started = performance.now();
      const more = await this.transactions.run(async (trx, changed) => {
        // The receipt row first: two processes resuming one erase take turns (it precedes step 1 of
        // rollups.ts's lock order, and no other writer locks it).
        let read = trx.selectFrom('erasures').selectAll().where('erasure_id', '=', erasureId);
        if (this.dialect.name === 'postgres') read = read.forUpdate();
        const row = await read.executeTakeFirst();
        if (!row || row.state !== 'running' || row.subject === null) return false;
        const column = row.kind === 'user' ? 'user_id' : 'session_id';
        const found = await nextTraces(trx, column, row.subject, holding, options.batchSize ?? ERASE_BATCH);
        if (found.length === 0) return false;
        const counts = JSON.parse(row.counts) as Record<string, number>;
        const erased = new Set<string>();
        for (const experimentId of [...new Set(found.map((f) => Number(f.experiment_id)))].sort((a, b) => a - b)) {
          const traceIds = found.filter((f) => Number(f.experiment_id) === experimentId).map((f) => f.trace_id);
          for (const id of await deleteTracesIn(trx, this.dialect, { experimentId: String(experimentId), traceIds }, { counts, changed })) erased.add(id);
        }
        // Chained in the order found, (request_time, trace_id): whatever the batch size, the digest
        // of a subject's traces is the same, and anyone holding their ids and times can recompute it.
        const chained = found.map((f) => f.trace_id).filter((id) => erased.has(id));
        await trx
          .updateTable('erasures')
          .set({ counts: JSON.stringify(counts), trace_ids_digest: chainDigest(row.trace_ids_digest, chained), lease_until: Date.now() + this.leaseMs })
          .where('erasure_id', '=', erasureId)
          .execute();
        return true;
      });
      if (!more) {
        // Traces that came meanwhile, perhaps in an experiment that held none, are erased too.
        holding = await this.experimentsHolding(erasureId);
        if (holding.length === 0) break;
        continue;
      }
      await options.afterBatch?.();
      await this.writeBackAndRest(started);
    }
    return this.finish(erasureId);
  }

  /**
   * After a batch on SQLite, where the erase shares the one writer and the event loop with ingest
   * (every statement runs on it): first the batch's pages written from the WAL into the database
   * file by a checkpoint of their own (PASSIVE: it never waits for readers), other work let in
   * before it. Left to SQLite, they would be written by an automatic checkpoint of 1000 pages (a
   * batch dirties ~150) inside some later commit, an ingest's as likely as the erase's: a stall
   * several batches long. Then a rest as long as the batch and its checkpoint took: the erase
   * takes half of the writer's time at most, and an ingest request waits for one of its steps at
   * most, not for a queue of them. The erase takes about twice as long.
   */
  private async writeBackAndRest(batchStarted: number): Promise<void> {
    if (this.dialect.name !== 'sqlite') return;
    await letOthersIn();
    await sql`PRAGMA wal_checkpoint(PASSIVE)`.execute(this.db);
    await sleep(performance.now() - batchStarted);
  }

  /** The named experiments of a running erase that have a trace of its subject, in id order. */
  private async experimentsHolding(erasureId: string): Promise<number[]> {
    const row = await this.db.selectFrom('erasures').select(['kind', 'subject', 'experiment_ids', 'state']).where('erasure_id', '=', erasureId).executeTakeFirst();
    if (!row || row.state !== 'running' || row.subject === null) return [];
    const experimentIds = (JSON.parse(row.experiment_ids) as string[]).map(Number);
    if (experimentIds.length === 0) return [];
    const column = row.kind === 'user' ? 'user_id' : 'session_id';
    const rows = await this.db.selectFrom('traces').select('experiment_id').distinct().where('experiment_id', 'in', experimentIds).where(column, '=', row.subject).execute();
    return rows.map((r) => Number(r.experiment_id)).sort((a, b) => a - b);
  }

  /** Erases that some process left running (its lease lapsed: it crashed), run to their end. */
  async resumeUnfinished(now = Date.now()): Promise<ErasureReceipt[]> {
    const stale = await this.db.selectFrom('erasures').select('erasure_id').where('state', '=', 'running').where('lease_until', '<', now).orderBy('requested_time').execute();
    const done: ErasureReceipt[] = [];
    for (const { erasure_id } of stale) done.push(await this.run(erasure_id));
    return done;
  }

  async get(erasureId: string): Promise<ErasureReceipt | undefined> {
    const row = await this.db.selectFrom('erasures').selectAll().where('erasure_id', '=', erasureId).executeTakeFirst();
    return row && receiptOf(row);
  }

  /** The newest erases first; `experimentIds`: only those touching one of them. */
  async list(options: { limit: number; experimentIds?: readonly string[] }): Promise<ErasureReceipt[]> {
    const rows = await this.db.selectFrom('erasures').selectAll().orderBy('requested_time', 'desc').orderBy('erasure_id').limit(options.experimentIds ? 10_000 : options.limit).execute();
    const wanted = options.experimentIds && new Set(options.experimentIds);
    return rows
      .map(receiptOf)
      .filter((r) => !wanted || r.experimentIds.some((id) => wanted.has(id)))
      .slice(0, options.limit);
  }

  /**
   * After the traces: the assessments the user gave (on any trace or session of the experiments)
   * and those of sessions that no longer have a trace; then the receipt is completed and forgets
   * the subject's id.
   */
  private async finish(erasureId: string): Promise<ErasureReceipt> {
    const row = await this.db.selectFrom('erasures').selectAll().where('erasure_id', '=', erasureId).executeTakeFirst();
    if (!row) throw new Error(`No erasure ${erasureId}.`);
    if (row.state === 'complete' || row.subject === null) return receiptOf(row);
    const experimentIds = (JSON.parse(row.experiment_ids) as string[]).map(Number);
    let givenBySubject = 0;
    if (row.kind === 'user') {
      for await (const a of this.assessmentsGivenBy(row.subject, experimentIds)) {
        if (a.trace_id !== null) await this.assessments.deleteAssessment(a.trace_id, a.assessment_id);
        else if (a.session_exists) await this.assessments.deleteSessionAssessment({ experimentId: String(a.experiment_id), sessionId: a.session_id! }, a.assessment_id);
        else await deleteOrphanedAssessment(this.transactions, a);
        givenBySubject++;
      }
    }
    const ofGoneSessions = await deleteOrphanedSessionAssessments(this.db, this.transactions, experimentIds);
    const counts = JSON.parse(row.counts) as Record<string, number>;
    if (givenBySubject > 0) counts.assessments_given = (counts.assessments_given ?? 0) + givenBySubject;
    if (ofGoneSessions > 0) counts.session_assessments = (counts.session_assessments ?? 0) + ofGoneSessions;
    await this.db
      .updateTable('erasures')
      .set({ state: 'complete', subject: null, completed_time: Date.now(), counts: JSON.stringify(counts) })
      .where('erasure_id', '=', erasureId)
      .where('state', '=', 'running')
      .execute();
    // The WAL still holds the pages as they were before the deletes: write them back and truncate it.
    if (this.dialect.name === 'sqlite') await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(this.db);
    return receiptOf((await this.db.selectFrom('erasures').selectAll().where('erasure_id', '=', erasureId).executeTakeFirstOrThrow()));
  }

  /**
   * The assessments `sourceId` gave on the experiments' traces and sessions, with whether a
   * session's still exists. The whole table is read a page at a time by primary key, each page a
   * short statement (other writers go between them), and filtered here: only the few matches
   * cost a look-up of their trace or session.
   */
  private async *assessmentsGivenBy(sourceId: string, experimentIds: readonly number[]) {
    const wanted = new Set(experimentIds);
    // As the source id stands in the content JSON: most rows are passed over without parsing.
    const needle = JSON.stringify(sourceId).slice(1, -1);
    let after = '';
    for (;;) {
      const page = await this.db.selectFrom('assessments').selectAll().where('assessment_id', '>', after).orderBy('assessment_id').limit(500).execute();
      if (page.length === 0) return;
      after = page.at(-1)!.assessment_id;
      // On SQLite every statement runs on the event loop, and awaiting one lets nothing else in.
      await letOthersIn();
      for (const a of page) {
        if (!a.content.includes(needle) || storedAssessmentOf(a).source.sourceId !== sourceId) continue;
        if (a.trace_id !== null) {
          const trace = await this.db.selectFrom('traces').select('experiment_id').where('trace_id', '=', a.trace_id).executeTakeFirst();
          if (trace && wanted.has(Number(trace.experiment_id))) yield { ...a, session_exists: true };
        } else if (a.experiment_id !== null && a.session_id !== null && wanted.has(Number(a.experiment_id))) {
          const session = await this.db.selectFrom('sessions').select('session_id').where('experiment_id', '=', a.experiment_id).where('session_id', '=', a.session_id).executeTakeFirst();
          yield { ...a, session_exists: session !== undefined };
        }
      }
    }
  }
}

/**
 * The subject's first `limit` traces in the experiments, in (request_time, trace_id) order. Each
 * experiment is read by its (experiment_id, user_id | session_id, request_time) index in time
 * order alone, which that index serves without a sort (ordered by trace_id too, SQLite, having
 * no statistics, would rather walk the experiment's whole time index). Traces that share the
 * last time read are all read, so that ties fall in trace_id order however a LIMIT cut them.
 */
async function nextTraces(trx: Transaction<Database>, column: 'user_id' | 'session_id', subject: string, experimentIds: readonly number[], limit: number) {
  let found: { trace_id: string; experiment_id: number; request_time: number }[] = [];
  let cutoff = Infinity;
  for (const experimentId of experimentIds) {
    const rows = await trx
      .selectFrom('traces')
      .select(['trace_id', 'experiment_id', 'request_time'])
      .where('experiment_id', '=', experimentId)
      .where(column, '=', subject)
      .orderBy('request_time')
      .limit(limit)
      .execute();
    found.push(...rows);
    if (rows.length === limit) cutoff = Math.min(cutoff, Number(rows.at(-1)!.request_time));
  }
  if (cutoff !== Infinity) {
    // Every trace at the cutoff time is read again below, with those a LIMIT left out.
    found = found.filter((r) => Number(r.request_time) < cutoff);
    found.push(
      ...(await trx
        .selectFrom('traces')
        .select(['trace_id', 'experiment_id', 'request_time'])
        .where('experiment_id', 'in', [...experimentIds])
        .where(column, '=', subject)
        .where('request_time', '=', cutoff)
        .execute()),
    );
  }
  found.sort((a, b) => Number(a.request_time) - Number(b.request_time) || (a.trace_id < b.trace_id ? -1 : a.trace_id > b.trace_id ? 1 : 0));
  return found.slice(0, limit);
}

/**
 * Deletes the assessments of sessions that no longer have a trace (their last one was erased or
 * deleted, or went with retention): nothing shows them any more, and they may be personal data.
 * Answers how many. Reads through the (experiment_id, session_id) index of session assessments.
 */
export async function deleteOrphanedSessionAssessments(db: Kysely<Database>, transactions: PublishingTransactions, experimentIds: readonly number[]): Promise<number> {
  if (experimentIds.length === 0) return 0;
  const orphans = await db
    .selectFrom('assessments as a')
    .selectAll('a')
    .where('a.trace_id', 'is', null)
    .where('a.experiment_id', 'in', [...experimentIds])
    .where((eb) => eb.not(eb.exists(eb.selectFrom('sessions as s').select('s.session_id').whereRef('s.experiment_id', '=', 'a.experiment_id').whereRef('s.session_id', '=', 'a.session_id'))))
    .execute();
  for (const a of orphans) await deleteOrphanedAssessment(transactions, a);
  return orphans.length;
}

/**
 * One assessment of a session without traces (the store's session paths answer 404 for it),
 * deleted with what it counted for: the session's and the hour's feedback rollups (its users'
 * went when their last trace of the session did).
 */
async function deleteOrphanedAssessment(transactions: PublishingTransactions, a: Selectable<Database['assessments']>): Promise<void> {
  await transactions.run(async (trx, changed) => {
    const deltas = new FeedbackDeltas();
    deltas.addAssessment({ experimentId: Number(a.experiment_id), sessionId: a.session_id, userIds: [] }, storedAssessmentOf(a), -1);
    const deleted = await trx.deleteFrom('assessments').where('assessment_id', '=', a.assessment_id).executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) return;
    await deltas.apply(trx);
    changed({ experimentId: String(a.experiment_id), traceId: null, sessionId: a.session_id, userId: null, kind: 'assessment' });
  });
}

/**
 * Resumes erases that a crashed process left (at once, then every `everyMs`), for as long as the
 * server runs; answers the function that stops it. Failures are reported and tried again later.
 */
export function resumeErasuresInBackground(erasures: Erasures, report: (error: unknown) => void, everyMs = erasures.leaseMs): () => Promise<void> {
  return repeatInBackground(() => erasures.resumeUnfinished(), everyMs, report);
}

function receiptOf(row: Selectable<ErasuresTable>): ErasureReceipt {
  return {
    erasureId: row.erasure_id,
    kind: row.kind as ErasureKind,
    subjectDigest: row.subject_digest,
    experimentIds: JSON.parse(row.experiment_ids) as string[],
    requestedBy: row.requested_by,
    requestedTimeMs: Number(row.requested_time),
    completedTimeMs: row.completed_time === null ? null : Number(row.completed_time),
    state: row.state as 'running' | 'complete',
    counts: JSON.parse(row.counts) as Record<string, number>,
    traceIdsDigest: row.trace_ids_digest,
  };
}
