import { TraceMetadataKey, TraceState, TraceTagKey, SPANS_LOCATION_TRACKING_STORE } from '@threadline/protocol';
import type { Kysely, Transaction } from 'kysely';
import { findRootSpan, rootPreviews, tokenUsageFromMetadata, tokenUsageFromSpans } from '../ingest/trace-derivation.js';
import type { AssessmentInput, SpanBatchFields, SpanRecord, TokenCounts, TraceRecord } from '../trace-model.js';
import type { AssessmentWrites } from './assessments.js';
import { addTraceCalls, deleteTraceCalls, ModelHourDeltas, pricedNewTrace, repriceTraceCalls, storeNewTraceCalls } from './cost-writes.js';
import type { PriceSource } from '../cost/price-source.js';
import { traceChange, type ChangeSink, type PublishingTransactions } from './change-feed.js';
import { FeedbackDeltas, feedbackPlaceOf, traceFeedbackMoves } from './feedback-rollups.js';
import { applyRollupChanges, type RollupContribution } from './rollups.js';
import { insertRows, placeholders, runSql } from './fast-sql.js';
import type { Database } from './schema.js';
import { deleteTraceText } from './trace-text.js';
import { againstStored, insertSpans, rootSpanName, spansToStore, usageSpans } from './spans.js';
import type { SqlDialect } from './sql-dialect.js';
import type { DeleteTracesInput, IngestSpansResult, LogSpansResult, StartTraceResult } from './store.js';
import { contributionOf, loadTrace, lockTraceRow, storedTraceOf, TRACE_COLUMNS, TraceNotFoundError, type NewTraceRow, type TraceRow } from './trace-rows.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Metadata keys the server writes itself; a client's retry does not repeat them. */
const SERVER_METADATA_KEYS = new Set<string>([TraceMetadataKey.INFO_FINALIZED]);

/** Large id lists are read and locked in chunks, well under every database's bound-parameter limit. */
const ID_CHUNK = 500;

/** Traces deleted per transaction by `deleteTraces`. */
export const DELETE_BATCH = 200;

/** What a deleted trace's row must say for its rollups to be taken back. */
const VICTIM_COLUMNS = ['trace_id', 'trace_key', 'experiment_id', 'session_id', 'user_id', 'request_time', 'execution_duration', 'state', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_nanos'] as const;

/**
 * Every write that changes a trace: its info, its spans (MLflow upload or OTLP batches), its
 * tags, its deletion. Each is one transaction that takes its locks in the order rollups.ts
 * documents: the trace rows first, then the rollups, once, at the end.
 *
 * What may change once a trace has finished (its info logged by a client in state OK or ERROR):
 * its tags (and, in their own module, assessments); nothing that says what happened. A re-log of
 * the same info is a retry and succeeds without changing anything; one that would change the
 * state, times, previews or client request id is refused. Spans are write-once for every trace:
 * new spans are added (the rest of a distributed trace, a late OTLP batch), a repeat of a stored
 * span is a retry, and a span that would replace a stored one with other content is refused.
 */
export class TraceWrites {
  /** A new trace's row, numbered as the database numbers traces; its number back, or no row when the trace exists. */
  private readonly insertTrace: string;

  constructor(
    private readonly dialect: SqlDialect,
    private readonly transactions: PublishingTransactions,
    private readonly assessments: AssessmentWrites,
    private readonly prices: PriceSource,
  ) {
    this.insertTrace = `INSERT INTO traces (trace_key, ${TRACE_COLUMNS.join(', ')}) VALUES (${dialect.newTraceKey}, ${placeholders(TRACE_COLUMNS.length)}) ON CONFLICT (trace_id) DO NOTHING RETURNING trace_key`;
  }

  /** `assessments` (logged inside the info) are stored with it, once however often it is retried. */
  async startTrace(record: TraceRecord, assessments: readonly AssessmentInput[] = []): Promise<StartTraceResult> {
    return this.transactions.run(async (trx, changed) => {
      const metadata = { ...record.metadata, [TraceMetadataKey.INFO_FINALIZED]: 'true' };
      const tokens = tokenUsageFromMetadata(record.metadata);
      const fresh: NewTraceRow = {
        trace_id: record.traceId,
        experiment_id: Number(record.experimentId),
        client_request_id: record.clientRequestId,
        request_time: record.requestTimeMs,
        execution_duration: record.executionDurationMs,
        state: record.state,
        request_preview: record.requestPreview,
        response_preview: record.responsePreview,
        name: record.tags[TraceTagKey.TRACE_NAME] ?? null,
        user_id: record.metadata[TraceMetadataKey.USER] ?? null,
        session_id: record.metadata[TraceMetadataKey.SESSION] ?? null,
        input_tokens: tokens?.inputTokens ?? null,
        output_tokens: tokens?.outputTokens ?? null,
        total_tokens: tokens?.totalTokens ?? null,
        span_count: 0,
        cost_nanos: null,
        unpriced_calls: 0,
      };
      const inserted = await this.insertOrLock(trx, fresh);
      if (inserted.created) {
        const row = inserted.row;
        await insertKeyValues(trx, 'trace_metadata', row.trace_key, metadata);
        await insertKeyValues(trx, 'trace_tags', row.trace_key, record.tags);
        const feedback = new FeedbackDeltas();
        feedback.addChanges(feedbackPlaceOf(row), await this.assessments.storeLogged(trx, row, assessments));
        await applyRollupChanges(trx, [{ was: null, now: contributionOf(row) }], feedback);
        changed(traceChange(row, 'trace'));
        if (assessments.length === 0) return { kind: 'created', trace: storedTraceOf(row, metadata, record.tags) };
        return { kind: 'created', trace: await loadTrace(trx, record.traceId) };
      }

      const before = inserted.row;
      const existing = await loadTrace(trx, record.traceId);
      if (existing.experimentId !== record.experimentId) return { kind: 'experiment-conflict', trace: existing };
      const conflicts = conflictingMetadataKeys(existing.metadata, record.metadata);
      if (conflicts.length > 0) return { kind: 'metadata-conflict', trace: existing, keys: conflicts };
      const named = existing.metadata[TraceMetadataKey.INFO_FINALIZED] === 'true';
      if (named && before.state !== TraceState.IN_PROGRESS) {
        const fields = rewrittenFields(before, record);
        if (fields.length > 0) return { kind: 'finished-conflict', trace: existing, fields };
      }

      const addedMetadata = Object.fromEntries(Object.entries(metadata).filter(([k]) => !(k in existing.metadata)));
      await insertKeyValues(trx, 'trace_metadata', before.trace_key, addedMetadata);
      await upsertTags(trx, before.trace_key, record.tags);
      // Before a client's info, a trace is named by its spans, perhaps only another process's part
      // of it: the info's name, else the trace's own root span (now or when its spans come), wins.
      const name = record.tags[TraceTagKey.TRACE_NAME] ?? (named ? before.name : await rootSpanName(trx, before.trace_key));
      if (name === null && before.name !== null) await trx.deleteFrom('trace_tags').where('trace_key', '=', before.trace_key).where('key', '=', TraceTagKey.TRACE_NAME).execute();
      else if (name !== null && name !== before.name) await upsertTags(trx, before.trace_key, { [TraceTagKey.TRACE_NAME]: name });
      const after: TraceRow = {
        ...before,
        client_request_id: record.clientRequestId ?? before.client_request_id,
        request_time: record.requestTimeMs,
        execution_duration: record.executionDurationMs ?? before.execution_duration,
        state: record.state,
        request_preview: record.requestPreview ?? before.request_preview,
        response_preview: record.responsePreview ?? before.response_preview,
        name,
        user_id: before.user_id ?? fresh.user_id,
        session_id: before.session_id ?? fresh.session_id,
        input_tokens: before.input_tokens ?? fresh.input_tokens,
        output_tokens: before.output_tokens ?? fresh.output_tokens,
        total_tokens: before.total_tokens ?? fresh.total_tokens,
      };
      // The trace's feedback as it was, moved with it, and what the log adds, in one pass of step 6.
      const feedback = await traceFeedbackMoves(trx, [{ was: contributionOf(before), now: contributionOf(after) }]);
      feedback.addChanges(feedbackPlaceOf(after), await this.assessments.storeLogged(trx, after, assessments));
      await replaceTraceRow(trx, before, after, feedback);
      changed(traceChange(after, 'trace'));
      return { kind: 'updated', trace: await loadTrace(trx, record.traceId) };
    });
  }

  async logSpans(traceId: string, spans: SpanRecord[], options: { experimentId?: string } = {}): Promise<LogSpansResult> {
    const book = await this.prices.current();
    return this.transactions.run(async (trx, changed) => {
      const before = await this.lockTraceRow(trx, traceId);
      if (!before || (options.experimentId !== undefined && String(before.experiment_id) !== options.experimentId)) {
        throw new TraceNotFoundError(traceId);
      }
      const once = spansToStore(traceId, spans);
      const { fresh, conflicting } = await againstStored(trx, before.trace_key, once.spans, Number(before.span_count) > 0);
      const spanIds = [...new Set([...once.conflicting, ...conflicting])].sort();
      // An upload is one request: all of it is stored, or none.
      if (spanIds.length > 0) return { kind: 'span-conflict', spanIds };
      await insertSpans(trx, this.dialect, before.trace_key, fresh);
      const models = new ModelHourDeltas();
      const cost = await addTraceCalls(trx, before, fresh.map((s) => s.span), book, models);
      const root = findRootSpan(spans);
      const previews = rootPreviews(root);
      const tokens: TokenCounts | null = before.total_tokens === null ? tokenUsageFromSpans(spans) : null;
      const after: TraceRow = {
        ...before,
        span_count: Number(before.span_count) + fresh.length,
        name: before.name ?? root?.name ?? null,
        request_preview: before.request_preview ?? previews.request,
        response_preview: before.response_preview ?? previews.response,
        input_tokens: tokens?.inputTokens ?? before.input_tokens,
        output_tokens: tokens?.outputTokens ?? before.output_tokens,
        total_tokens: tokens?.totalTokens ?? before.total_tokens,
        ...cost,
      };
      await upsertTags(trx, before.trace_key, {
        [TraceTagKey.SPANS_LOCATION]: SPANS_LOCATION_TRACKING_STORE,
        ...(before.name === null && after.name !== null ? { [TraceTagKey.TRACE_NAME]: after.name } : {}),
      });
      await replaceTraceRow(trx, before, after);
      await models.apply(trx);
      // A retry stores nothing new: nothing to tell.
      if (fresh.length > 0) changed(traceChange(after, 'spans'));
      return { kind: 'stored' };
    });
  }

  async ingestSpans(experimentId: string, traceId: string, fields: SpanBatchFields, batchSpans: SpanRecord[]): Promise<IngestSpansResult> {
    const book = await this.prices.current();
    return this.transactions.run(async (trx, changed) => {
      // Within the batch, the first of two spans with one id is the one taken.
      const once = spansToStore(traceId, batchSpans);
      const spans = once.spans.map((s) => s.span);
      const rejected = (ids: readonly string[]) => (ids.length > 0 ? { rejectedSpanIds: [...ids] } : {});
      const metadata = fields.metadata;
      const created = derivedFromBatch(spans, fields);
      const priced = pricedNewTrace(Number(experimentId), spans, book);
      const fresh: NewTraceRow = {
        trace_id: traceId,
        experiment_id: Number(experimentId),
        client_request_id: null,
        request_time: created.batch.startMs,
        execution_duration: created.batch.endMs - created.batch.startMs,
        state: created.lead ? rootState(created.lead) : TraceState.IN_PROGRESS,
        request_preview: created.previews.request,
        response_preview: created.previews.response,
        name: created.name,
        user_id: metadata[TraceMetadataKey.USER] ?? null,
        session_id: metadata[TraceMetadataKey.SESSION] ?? null,
        input_tokens: created.tokens?.inputTokens ?? null,
        output_tokens: created.tokens?.outputTokens ?? null,
        total_tokens: created.tokens?.totalTokens ?? null,
        span_count: spans.length,
        ...priced.cost,
      };
      // The common case, a trace in one batch, costs no read: insert-or-nothing decides.
      const inserted = await this.insertOrLock(trx, fresh);
      if (inserted.created) {
        const row = inserted.row;
        await insertKeyValues(trx, 'trace_metadata', row.trace_key, metadata);
        await insertKeyValues(trx, 'trace_tags', row.trace_key, {
          ...fields.tags,
          [TraceTagKey.SPANS_LOCATION]: SPANS_LOCATION_TRACKING_STORE,
          ...(created.name !== null ? { [TraceTagKey.TRACE_NAME]: created.name } : {}),
        });
        await insertSpans(trx, this.dialect, row.trace_key, once.spans);
        const models = new ModelHourDeltas();
        await storeNewTraceCalls(trx, row.trace_key, priced.rows, models);
        await applyRollupChanges(trx, [{ was: null, now: contributionOf(row) }]);
        await models.apply(trx);
        changed(traceChange(row, 'spans'));
        return { kind: 'created', ...rejected(once.conflicting) };
      }

      const before = inserted.row;
      if (String(before.experiment_id) !== experimentId) return { kind: 'experiment-conflict', experimentId: String(before.experiment_id) };
      const sorted = await againstStored(trx, before.trace_key, once.spans, Number(before.span_count) > 0);
      const conflicting = [...new Set([...once.conflicting, ...sorted.conflicting])].sort();
      // Spans that would rewrite stored ones are left out; the rest of the batch still counts.
      const refused = new Set(sorted.conflicting);
      const accepted = refused.size === 0 ? spans : spans.filter((s) => !refused.has(s.spanId));
      if (accepted.length === 0) return { kind: 'merged', ...rejected(conflicting) };
      const stored = Object.fromEntries(
        (await trx.selectFrom('trace_metadata').select(['key', 'value']).where('trace_key', '=', before.trace_key).execute()).map((r) => [r.key, r.value]),
      );
      const finalized = stored[TraceMetadataKey.INFO_FINALIZED] === 'true';
      // Metadata is immutable once finalized; before that, keys are only ever added.
      const added = finalized ? {} : Object.fromEntries(Object.entries(metadata).filter(([k]) => !(k in stored)));
      await insertKeyValues(trx, 'trace_metadata', before.trace_key, added);
      await insertSpans(trx, this.dialect, before.trace_key, sorted.fresh);
      const models = new ModelHourDeltas();
      const cost = await addTraceCalls(trx, before, sorted.fresh.map((s) => s.span), book, models);
      const { batch, lead, name, previews } = accepted.length === spans.length ? created : derivedFromBatch(accepted, fields);
      const keepTokens = finalized && tokenUsageFromMetadata(stored) !== null;
      const allTokens = keepTokens ? null : tokenUsageFromSpans(await usageSpans(trx, before.trace_key, accepted), { prefer: 'innermost' });
      const root = batch.root;
      const start = Number(before.request_time);
      const end = start + Number(before.execution_duration ?? 0);
      // A trace logged through StartTraceV3 keeps the times, state, previews and name its client
      // gave (what it left out, only the trace's own root fills in). Otherwise the trace's root,
      // when it comes, decides them, over what a local root (another process's part of the
      // trace) said; a local root fills in for a trace still without either.
      const rootDecides = !finalized && root !== undefined;
      const localDecides = !finalized && root === undefined && batch.localRoot !== undefined && before.state === TraceState.IN_PROGRESS;
      const filler = finalized ? root : (root ?? batch.localRoot);
      // Unless a finalized trace got only a local root here, that is the span `previews` came from.
      const fill = filler === lead ? previews : rootPreviews(filler);
      const after: TraceRow = {
        ...before,
        request_time: finalized ? before.request_time : Math.min(start, batch.startMs),
        execution_duration: finalized ? before.execution_duration : Math.max(end, batch.endMs) - Math.min(start, batch.startMs),
        state: rootDecides ? rootState(root) : localDecides ? rootState(batch.localRoot!) : before.state,
        name: rootDecides ? name : (before.name ?? fields.name ?? filler?.name ?? null),
        request_preview: rootDecides ? (fill.request ?? before.request_preview) : (before.request_preview ?? fill.request),
        response_preview: rootDecides ? (fill.response ?? before.response_preview) : (before.response_preview ?? fill.response),
        user_id: before.user_id ?? added[TraceMetadataKey.USER] ?? null,
        session_id: before.session_id ?? added[TraceMetadataKey.SESSION] ?? null,
        input_tokens: keepTokens ? before.input_tokens : (allTokens?.inputTokens ?? null),
        output_tokens: keepTokens ? before.output_tokens : (allTokens?.outputTokens ?? null),
        total_tokens: keepTokens ? before.total_tokens : (allTokens?.totalTokens ?? null),
        span_count: Number(before.span_count) + sorted.fresh.length,
        ...cost,
      };
      await insertMissingTags(trx, before.trace_key, fields.tags);
      await upsertTags(trx, before.trace_key, {
        [TraceTagKey.SPANS_LOCATION]: SPANS_LOCATION_TRACKING_STORE,
        ...(after.name !== null && after.name !== before.name ? { [TraceTagKey.TRACE_NAME]: after.name } : {}),
      });
      await replaceTraceRow(trx, before, after);
      await models.apply(trx);
      if (sorted.fresh.length > 0) changed(traceChange(after, 'spans'));
      return { kind: 'merged', ...rejected(conflicting) };
    });
  }

  async setTraceTag(traceId: string, key: string, value: string): Promise<void> {
    return this.transactions.run(async (trx, changed) => {
      // The trace row first, as every writer of a trace's rows does (rollups.ts, lock order).
      const row = await this.lockTraceRow(trx, traceId);
      // Tags are a trace's rows: a trace that does not exist has none to set.
      if (!row) return;
      await upsertTags(trx, row.trace_key, { [key]: value });
      if (key === TraceTagKey.TRACE_NAME) await trx.updateTable('traces').set({ name: value }).where('trace_id', '=', traceId).execute();
      changed(traceChange(row, 'trace'));
    });
  }

  async deleteTraceTag(traceId: string, key: string): Promise<boolean> {
    return this.transactions.run(async (trx, changed) => {
      const row = await this.lockTraceRow(trx, traceId);
      if (!row) return false;
      const deleted = await trx.deleteFrom('trace_tags').where('trace_key', '=', row.trace_key).where('key', '=', key).executeTakeFirst();
      if (key === TraceTagKey.TRACE_NAME) await trx.updateTable('traces').set({ name: null }).where('trace_id', '=', traceId).execute();
      if (Number(deleted.numDeletedRows) > 0) changed(traceChange(row, 'trace'));
      return Number(deleted.numDeletedRows) > 0;
    });
  }

  /**
   * At most {@link DELETE_BATCH} traces per transaction: "everything before last month", or a
   * list of a million ids (a request may be 64 MiB), may be most of the database, and one
   * transaction holding SQLite's writer (the event loop) for all of it would stall every other
   * request meanwhile. Named traces go in chunks of the list; traces older than a time, oldest
   * first. Named traces with a `maxTraces` (the oldest of them) go in one transaction.
   */
  async deleteTraces(input: DeleteTracesInput): Promise<number> {
    const once = (batch: DeleteTracesInput) => this.transactions.run(async (trx, changed) => (await deleteTracesIn(trx, this.dialect, batch, { changed })).length);
    if (input.traceIds !== undefined) {
      if (input.maxTraces !== undefined) return once(input);
      let deleted = 0;
      for (let i = 0; i < input.traceIds.length; i += DELETE_BATCH) deleted += await once({ ...input, traceIds: input.traceIds.slice(i, i + DELETE_BATCH) });
      return deleted;
    }
    let deleted = 0;
    for (;;) {
      const wanted = Math.min(DELETE_BATCH, (input.maxTraces ?? Infinity) - deleted);
      if (wanted <= 0) return deleted;
      const batch = await once({ ...input, maxTraces: wanted });
      deleted += batch;
      if (batch < wanted) return deleted;
    }
  }

  /**
   * Prices the given traces again with today's prices (repriceTraceCalls), each trace's cost and
   * every rollup moved by the difference in one transaction. Answers how many traces were found.
   */
  async repriceTraces(traceIds: readonly string[]): Promise<number> {
    const book = await this.prices.current();
    return this.transactions.run(async (trx, changed) => {
      // Step 1 for all of them first, in trace_id order; then their rollups once.
      const rows: TraceRow[] = [];
      for (const traceId of [...traceIds].sort()) {
        const row = await this.lockTraceRow(trx, traceId);
        if (row) rows.push(row);
      }
      const models = new ModelHourDeltas();
      const changes = [];
      for (const before of rows) {
        const cost = await repriceTraceCalls(trx, before, book, models);
        if (cost.cost_nanos === before.cost_nanos && Number(cost.unpriced_calls) === Number(before.unpriced_calls)) continue;
        await trx.updateTable('traces').set(cost).where('trace_id', '=', before.trace_id).execute();
        changes.push({ was: contributionOf(before), now: contributionOf({ ...before, ...cost }) });
        changed(traceChange(before, 'trace'));
      }
      await applyRollupChanges(trx, changes);
      await models.apply(trx);
      return rows.length;
    });
  }

  /**
   * Step 1 of the lock order for a write of one trace: inserts its row if it has none (answering
   * it `created`, with the `trace_key` the database gave it), else locks and reads the existing
   * one. Insert-or-nothing decides atomically which of two concurrent writers creates the trace; a
   * row deleted between that and the lock is inserted again.
   */
  private async insertOrLock(trx: Db, fresh: NewTraceRow): Promise<{ created: boolean; row: TraceRow }> {
    for (let attempt = 0; ; attempt++) {
      const inserted = await runSql<{ trace_key: number }>(trx, this.insertTrace, TRACE_COLUMNS.map((column) => fresh[column]));
      const key = inserted.rows[0]?.trace_key;
      if (key !== undefined) return { created: true, row: { ...fresh, trace_key: Number(key) } };
      const before = await this.lockTraceRow(trx, fresh.trace_id);
      if (before) return { created: false, row: before };
      if (attempt === 2) throw new Error(`Trace ${fresh.trace_id} was deleted and created again while this write waited for it; nothing was written.`);
    }
  }

  private lockTraceRow(trx: Db, traceId: string): Promise<TraceRow | undefined> {
    return lockTraceRow(trx, this.dialect, traceId);
  }
}

/**
 * The tables that hold a trace's rows, deleted with it in this order, the trace's own row last
 * (its LLM calls go with `deleteTraceCalls`): those keyed by its `trace_key` (migrations 015 and
 * 016), then those keyed by its id.
 */
const KEYED_TABLES = ['trace_metadata', 'trace_tags', 'spans'] as const;
const ID_TABLES = ['assessments', 'traces'] as const;

/**
 * Deletes traces inside a transaction, with everything that is theirs, and moves every rollup.
 * Answers the ids deleted, in trace_id order; `counts` (when given) gains the rows deleted per
 * table, `changed` (when given) hears of each trace deleted.
 */
export async function deleteTracesIn(
  trx: Db,
  dialect: SqlDialect,
  input: DeleteTracesInput,
  { counts, changed }: { counts?: Record<string, number>; changed?: ChangeSink } = {},
): Promise<string[]> {
  const experimentId = Number(input.experimentId);
  const inExperiment = (row: { experiment_id: number; request_time: number }) =>
    Number(row.experiment_id) === experimentId && (input.maxTimestampMillis === undefined || Number(row.request_time) <= input.maxTimestampMillis);
  let ids: string[];
  if (input.traceIds !== undefined) {
    // Named traces are read by primary key and their experiment checked here: given
    // `experiment_id = ?` as well, SQLite (no statistics) walks the experiment's whole time index.
    const named: Pick<TraceRow, 'trace_id' | 'experiment_id' | 'request_time'>[] = [];
    for (let i = 0; i < input.traceIds.length; i += ID_CHUNK) {
      named.push(...(await trx.selectFrom('traces').select(['trace_id', 'experiment_id', 'request_time']).where('trace_id', 'in', input.traceIds.slice(i, i + ID_CHUNK)).execute()));
    }
    // Oldest first, so max_traces deletes the oldest ones, as MLflow does.
    const oldestFirst = named.filter(inExperiment).sort((a, b) => Number(a.request_time) - Number(b.request_time) || (a.trace_id < b.trace_id ? -1 : a.trace_id > b.trace_id ? 1 : 0));
    ids = oldestFirst.slice(0, input.maxTraces ?? oldestFirst.length).map((r) => r.trace_id);
  } else {
    let query = trx.selectFrom('traces').select('trace_id').where('experiment_id', '=', experimentId);
    if (input.maxTimestampMillis !== undefined) query = query.where('request_time', '<=', input.maxTimestampMillis);
    query = query.orderBy('request_time', 'asc').orderBy('trace_id', 'asc');
    if (input.maxTraces !== undefined) query = query.limit(input.maxTraces);
    ids = (await query.execute()).map((r) => r.trace_id);
  }
  ids.sort();
  // Step 1 of the lock order: every victim's row, in trace_id order, before anything else.
  // Each is read as it is once locked (a concurrent writer may have moved or deleted it), by
  // primary key, its experiment and time checked here as above.
  const victims: Pick<TraceRow, (typeof VICTIM_COLUMNS)[number]>[] = [];
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    const lock = trx.selectFrom('traces').select(VICTIM_COLUMNS).where('trace_id', 'in', ids.slice(i, i + ID_CHUNK)).orderBy('trace_id', 'asc');
    victims.push(...(await (dialect.name === 'postgres' ? lock.forUpdate() : lock).execute()).filter(inExperiment));
  }
  const unread = { client_request_id: null, request_preview: null, response_preview: null, name: null, span_count: 0, unpriced_calls: 0 };
  const changes = victims.map((v) => ({ was: contributionOf({ ...v, ...unread }), now: null }));
  // Their feedback leaves the rollups with them: read before it is deleted.
  const feedback = await traceFeedbackMoves(trx, changes);
  const models = new ModelHourDeltas();
  const victimKeys = victims.map((v) => Number(v.trace_key));
  const calls = await deleteTraceCalls(trx, victimKeys, models);
  if (counts) counts.llm_calls = (counts.llm_calls ?? 0) + calls;
  const count = (table: string, deleted: { numDeletedRows: bigint }) => {
    if (counts) counts[table] = (counts[table] ?? 0) + Number(deleted.numDeletedRows);
  };
  for (let i = 0; i < victims.length; i += ID_CHUNK) {
    const chunk = victims.slice(i, i + ID_CHUNK).map((v) => v.trace_id);
    const keys = victimKeys.slice(i, i + ID_CHUNK);
    await deleteTraceText(trx, dialect, keys);
    for (const table of KEYED_TABLES) count(table, await trx.deleteFrom(table).where('trace_key', 'in', keys).executeTakeFirst());
    for (const table of ID_TABLES) count(table, await trx.deleteFrom(table).where('trace_id', 'in', chunk).executeTakeFirst());
  }
  await applyRollupChanges(trx, changes, feedback);
  await models.apply(trx);
  if (changed) for (const v of victims) changed(traceChange(v, 'deleted'));
  return victims.map((v) => v.trace_id);
}

/**
 * Writes the changed columns of a trace row and moves its rollup contribution with it. `feedback`:
 * what the transaction changed in the feedback rollups, the trace's move included; by default its
 * move, read here (its assessments unchanged).
 */
async function replaceTraceRow(trx: Db, before: TraceRow, after: TraceRow, feedback?: FeedbackDeltas): Promise<void> {
  const was = contributionOf(before);
  const now = contributionOf(after);
  const deltas = feedback ?? (await traceFeedbackMoves(trx, [{ was, now }]));
  // Only changed columns: an unchanged indexed column rewritten still costs index pages.
  const changed = TRACE_COLUMNS.filter((column) => before[column] !== after[column]);
  if (changed.length > 0) {
    await runSql(trx, `UPDATE traces SET ${changed.map((column) => `${column} = ?`).join(', ')} WHERE trace_id = ?`, [...changed.map((column) => after[column]), after.trace_id]);
  }
  if (!sameContribution(was, now)) await applyRollupChanges(trx, [{ was, now }], deltas);
  else await deltas.apply(trx);
}

function sameContribution(a: RollupContribution, b: RollupContribution): boolean {
  return (Object.keys(a) as (keyof RollupContribution)[]).every((k) => a[k] === b[k]);
}

/**
 * What a re-log of a finished trace's info would change of what happened, by MLflow field name.
 * Fields the re-log leaves out (null) change nothing; tags and metadata are judged elsewhere.
 */
function rewrittenFields(stored: TraceRow, record: TraceRecord): string[] {
  const given = <T>(value: T | null, storedValue: T | null) => value !== null && value !== storedValue;
  return [
    ...(record.state !== stored.state ? ['state'] : []),
    ...(record.requestTimeMs !== Number(stored.request_time) ? ['request_time'] : []),
    ...(given(record.executionDurationMs, stored.execution_duration === null ? null : Number(stored.execution_duration)) ? ['execution_duration'] : []),
    ...(given(record.requestPreview, stored.request_preview) ? ['request_preview'] : []),
    ...(given(record.responsePreview, stored.response_preview) ? ['response_preview'] : []),
    ...(given(record.clientRequestId, stored.client_request_id) ? ['client_request_id'] : []),
  ];
}

/** What a batch of spans says of its trace, as if the trace had no others. */
function derivedFromBatch(spans: readonly SpanRecord[], fields: SpanBatchFields) {
  const batch = batchSummaryOf(spans);
  const lead = batch.root ?? batch.localRoot;
  return {
    batch,
    lead,
    name: fields.name ?? lead?.name ?? null,
    previews: rootPreviews(lead),
    tokens: tokenUsageFromSpans(spans, { prefer: 'innermost' }),
  };
}

/**
 * The earliest start and latest end of a batch of spans, in ms; its root span if it has one; and
 * its local root: the earliest span whose parent is in another process, which stands for the
 * trace (state, previews, name) until, if ever, the trace's own root arrives.
 */
function batchSummaryOf(spans: readonly SpanRecord[]): { startMs: number; endMs: number; root: SpanRecord | undefined; localRoot: SpanRecord | undefined } {
  let start: bigint | null = null;
  let end: bigint | null = null;
  let localRoot: SpanRecord | undefined;
  for (const span of spans) {
    const spanEnd = span.endNs ?? span.startNs;
    if (start === null || span.startNs < start) start = span.startNs;
    if (end === null || spanEnd > end) end = spanEnd;
    if (span.parentIsRemote && (!localRoot || span.startNs < localRoot.startNs)) localRoot = span;
  }
  const startMs = Number((start ?? 0n) / 1_000_000n);
  return { startMs, endMs: Math.max(startMs, Number((end ?? 0n) / 1_000_000n)), root: findRootSpan(spans), localRoot };
}

/** A trace's state once its root span has ended: the root's error, or OK. */
function rootState(root: SpanRecord): TraceState {
  return root.status === 'ERROR' ? TraceState.ERROR : TraceState.OK;
}

const KEY_VALUE_COLUMNS = ['trace_key', 'key', 'value'] as const;

function keyValueRows(traceKey: number, values: Record<string, string>): (string | number)[][] {
  return Object.entries(values).map(([key, value]) => [traceKey, key, value]);
}

/**
 * Sets tags in one statement, overwriting existing values. A tag that already has its value is
 * not written again: every upload of a trace's spans (each OTLP batch, each retry) sets the
 * spans-location tag, and a row rewritten with what it held still dirties its pages.
 */
async function upsertTags(trx: Db, traceKey: number, tags: Record<string, string>): Promise<void> {
  const rows = keyValueRows(traceKey, tags);
  if (rows.length > 0) {
    await insertRows(trx, 'trace_tags', KEY_VALUE_COLUMNS, rows, 'ON CONFLICT (trace_key, key) DO UPDATE SET value = excluded.value WHERE trace_tags.value <> excluded.value');
  }
}

/** Sets tags the trace does not have yet; existing values (perhaps a user's edit) stay. */
async function insertMissingTags(trx: Db, traceKey: number, tags: Record<string, string>): Promise<void> {
  const rows = keyValueRows(traceKey, tags);
  if (rows.length > 0) await insertRows(trx, 'trace_tags', KEY_VALUE_COLUMNS, rows, 'ON CONFLICT (trace_key, key) DO NOTHING');
}

async function insertKeyValues(trx: Db, table: 'trace_metadata' | 'trace_tags', traceKey: number, values: Record<string, string>): Promise<void> {
  const rows = keyValueRows(traceKey, values);
  if (rows.length > 0) await insertRows(trx, table, KEY_VALUE_COLUMNS, rows);
}

/**
 * Metadata keys a repeated log would change: a different value for a stored key, or a key added
 * to a finalized trace. Leaving a stored key out changes nothing (metadata cannot be removed), so
 * it is no conflict: a client's retry stays accepted after OTLP spans added user or session.
 */
function conflictingMetadataKeys(stored: Record<string, string>, incoming: Record<string, string>): string[] {
  const finalized = stored[TraceMetadataKey.INFO_FINALIZED] === 'true';
  const conflicts: string[] = [];
  for (const [key, value] of Object.entries(incoming)) {
    if (SERVER_METADATA_KEYS.has(key)) continue;
    if (key in stored ? stored[key] !== value : finalized) conflicts.push(key);
  }
  return conflicts.sort();
}
