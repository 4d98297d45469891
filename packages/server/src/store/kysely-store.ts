import { TraceMetadataKey, TraceState, TraceTagKey, LifecycleStage, SPANS_LOCATION_TRACKING_STORE, SpanAttributeKey } from '@threadline/protocol';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { spanToMlflowJson } from '../ingest/span-json.js';
import {
  findSessions,
  findSessionTraceIds,
  findTraceIds,
  findUsers,
  type RollupSearchRequest,
  type SessionPage,
  type SessionTracesRequest,
  type TraceIdPage,
  type TraceSearchRequest,
  type UserPage,
} from '../query/index.js';
import { findRootSpan, rootPreviews, tokenUsageFromMetadata, tokenUsageFromSpans, type UsageSpan } from '../ingest/trace-derivation.js';
import type { SpanBatchFields, SpanRecord, StoredTrace, TokenCounts, TraceRecord } from '../trace-model.js';
import { addToRollups, moveInRollups, recomputeRollups, shiftHours, type RollupContribution } from './rollups.js';
import type { Database, TracesTable } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';
import { queryTraceMetrics, type TraceMetrics, type TraceMetricsQuery } from './trace-metrics.js';
import { DirectTransactions, GroupCommitTransactions, type TransactionRunner } from './group-commit.js';
import type {
  CreateExperimentInput,
  DeleteTracesInput,
  Experiment,
  IngestSpansResult,
  SearchExperimentsInput,
  StartTraceResult,
  StoredSpan,
  TracePage,
  TraceStore,
} from './store.js';

type Db = Kysely<Database> | Transaction<Database>;
type TraceRow = Selectable<TracesTable>;

/** Metadata keys the server writes itself; a client's retry does not repeat them. */
const SERVER_METADATA_KEYS = new Set<string>([TraceMetadataKey.INFO_FINALIZED]);

/** Large id lists are read in chunks, well under every database's bound-parameter limit. */
const ID_CHUNK = 500;

/**
 * The store on any SQL database Kysely speaks. Dialect quirks come from `dialect`; the
 * per-database folders only open connections and hand them here.
 */
export class KyselyTraceStore implements TraceStore {
  private readonly transactions: TransactionRunner;

  /**
   * @param groupCommit share each commit among the writes in flight (for single-writer SQLite);
   *   otherwise every write is its own transaction.
   */
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: SqlDialect,
    options: { groupCommit?: boolean } = {},
  ) {
    this.transactions = options.groupCommit ? new GroupCommitTransactions(db) : new DirectTransactions(db);
  }

  // ---- experiments -------------------------------------------------------------------------

  async createExperiment(input: CreateExperimentInput): Promise<string> {
    return this.transactions.run(async (trx) => {
      const now = Date.now();
      const row = await trx
        .insertInto('experiments')
        .values({ name: input.name, artifact_location: input.artifactLocation ?? '', lifecycle_stage: LifecycleStage.ACTIVE, creation_time: now, last_update_time: now })
        .returning('experiment_id')
        .executeTakeFirstOrThrow();
      const id = Number(row.experiment_id);
      if (input.artifactLocation === undefined) {
        await trx.updateTable('experiments').set({ artifact_location: `mlflow-artifacts:/${id}` }).where('experiment_id', '=', id).execute();
      }
      const tags = Object.entries(input.tags ?? {});
      if (tags.length > 0) {
        await trx.insertInto('experiment_tags').values(tags.map(([key, value]) => ({ experiment_id: id, key, value }))).execute();
      }
      return String(id);
    });
  }

  async getExperiment(experimentId: string): Promise<Experiment | undefined> {
    const row = await this.db.selectFrom('experiments').selectAll().where('experiment_id', '=', Number(experimentId)).executeTakeFirst();
    return row && (await this.withExperimentTags([row]))[0];
  }

  async getExperimentByName(name: string): Promise<Experiment | undefined> {
    const row = await this.db.selectFrom('experiments').selectAll().where('name', '=', name).executeTakeFirst();
    return row && (await this.withExperimentTags([row]))[0];
  }

  async searchExperiments(input: SearchExperimentsInput): Promise<Experiment[]> {
    let query = this.db.selectFrom('experiments').selectAll();
    if (input.viewType === 'ACTIVE_ONLY') query = query.where('lifecycle_stage', '=', LifecycleStage.ACTIVE);
    if (input.viewType === 'DELETED_ONLY') query = query.where('lifecycle_stage', '=', LifecycleStage.DELETED);
    if (input.nameLike !== undefined) {
      const pattern = input.nameLike;
      query = query.where((eb) => this.dialect.like(eb.ref('name'), eb.val(pattern)));
    }
    const rows = await query.orderBy('last_update_time', 'desc').orderBy('experiment_id', 'asc').limit(input.maxResults).offset(input.offset).execute();
    return this.withExperimentTags(rows);
  }

  async renameExperiment(experimentId: string, newName: string): Promise<void> {
    await this.db.updateTable('experiments').set({ name: newName, last_update_time: Date.now() }).where('experiment_id', '=', Number(experimentId)).execute();
  }

  async setExperimentLifecycle(experimentId: string, stage: Experiment['lifecycleStage']): Promise<void> {
    await this.db.updateTable('experiments').set({ lifecycle_stage: stage, last_update_time: Date.now() }).where('experiment_id', '=', Number(experimentId)).execute();
  }

  async setExperimentTag(experimentId: string, key: string, value: string): Promise<void> {
    await this.db
      .insertInto('experiment_tags')
      .values({ experiment_id: Number(experimentId), key, value })
      .onConflict((oc) => oc.columns(['experiment_id', 'key']).doUpdateSet({ value }))
      .execute();
  }

  async deleteExperimentTag(experimentId: string, key: string): Promise<void> {
    await this.db.deleteFrom('experiment_tags').where('experiment_id', '=', Number(experimentId)).where('key', '=', key).execute();
  }

  private async withExperimentTags(rows: Selectable<Database['experiments']>[]): Promise<Experiment[]> {
    if (rows.length === 0) return [];
    const tags = await this.db
      .selectFrom('experiment_tags')
      .selectAll()
      .where('experiment_id', 'in', rows.map((r) => Number(r.experiment_id)))
      .execute();
    return rows.map((r) => ({
      experimentId: String(r.experiment_id),
      name: r.name,
      artifactLocation: r.artifact_location,
      lifecycleStage: r.lifecycle_stage as Experiment['lifecycleStage'],
      creationTime: Number(r.creation_time),
      lastUpdateTime: Number(r.last_update_time),
      tags: Object.fromEntries(tags.filter((t) => Number(t.experiment_id) === Number(r.experiment_id)).map((t) => [t.key, t.value])),
    }));
  }

  // ---- traces ------------------------------------------------------------------------------

  async startTrace(record: TraceRecord): Promise<StartTraceResult> {
    return this.transactions.run(async (trx) => {
      const metadata = { ...record.metadata, [TraceMetadataKey.INFO_FINALIZED]: 'true' };
      const tokens = tokenUsageFromMetadata(record.metadata);
      const row: TraceRow = {
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
      };
      // Insert-or-nothing decides atomically which of two concurrent writers created the trace.
      const inserted = await trx.insertInto('traces').values(row).onConflict((oc) => oc.column('trace_id').doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
        await insertKeyValues(trx, 'trace_metadata', record.traceId, metadata);
        await insertKeyValues(trx, 'trace_tags', record.traceId, record.tags);
        await addToRollups(trx, contributionOf(row));
        return { kind: 'created', trace: storedTraceOf(row, metadata, record.tags) };
      }

      const before = await this.traceRowForUpdate(trx, record.traceId);
      if (!before) throw new TraceNotFoundError(record.traceId);
      const existing = await this.loadTrace(trx, record.traceId);
      if (existing.experimentId !== record.experimentId) return { kind: 'experiment-conflict', trace: existing };
      const conflicts = conflictingMetadataKeys(existing.metadata, record.metadata);
      if (conflicts.length > 0) return { kind: 'metadata-conflict', trace: existing, keys: conflicts };

      const addedMetadata = Object.fromEntries(Object.entries(metadata).filter(([k]) => !(k in existing.metadata)));
      await insertKeyValues(trx, 'trace_metadata', record.traceId, addedMetadata);
      await upsertTags(trx, record.traceId, record.tags);
      // Before a client's info, a trace is named by its spans, perhaps only another process's part
      // of it: the info's name, else the trace's own root span (now or when its spans come), wins.
      const named = existing.metadata[TraceMetadataKey.INFO_FINALIZED] === 'true';
      const name = record.tags[TraceTagKey.TRACE_NAME] ?? (named ? before.name : await rootSpanName(trx, record.traceId));
      if (name === null && before.name !== null) await trx.deleteFrom('trace_tags').where('trace_id', '=', record.traceId).where('key', '=', TraceTagKey.TRACE_NAME).execute();
      else if (name !== null && name !== before.name) await upsertTags(trx, record.traceId, { [TraceTagKey.TRACE_NAME]: name });
      const after: TraceRow = {
        ...before,
        client_request_id: record.clientRequestId ?? before.client_request_id,
        request_time: record.requestTimeMs,
        execution_duration: record.executionDurationMs ?? before.execution_duration,
        state: record.state,
        request_preview: record.requestPreview ?? before.request_preview,
        response_preview: record.responsePreview ?? before.response_preview,
        name,
        user_id: before.user_id ?? row.user_id,
        session_id: before.session_id ?? row.session_id,
        input_tokens: before.input_tokens ?? row.input_tokens,
        output_tokens: before.output_tokens ?? row.output_tokens,
        total_tokens: before.total_tokens ?? row.total_tokens,
      };
      await this.replaceTraceRow(trx, before, after);
      return { kind: 'updated', trace: await this.loadTrace(trx, record.traceId) };
    });
  }

  async logSpans(traceId: string, spans: SpanRecord[], options: { experimentId?: string } = {}): Promise<void> {
    return this.transactions.run(async (trx) => {
      const before = await this.traceRowForUpdate(trx, traceId);
      if (!before || (options.experimentId !== undefined && String(before.experiment_id) !== options.experimentId)) {
        throw new TraceNotFoundError(traceId);
      }
      const spanCount = await upsertSpans(trx, traceId, spans);
      const root = findRootSpan(spans);
      const previews = rootPreviews(root);
      const tokens: TokenCounts | null = before.total_tokens === null ? tokenUsageFromSpans(spans) : null;
      const after: TraceRow = {
        ...before,
        span_count: spanCount,
        name: before.name ?? root?.name ?? null,
        request_preview: before.request_preview ?? previews.request,
        response_preview: before.response_preview ?? previews.response,
        input_tokens: tokens?.inputTokens ?? before.input_tokens,
        output_tokens: tokens?.outputTokens ?? before.output_tokens,
        total_tokens: tokens?.totalTokens ?? before.total_tokens,
      };
      await upsertTags(trx, traceId, {
        [TraceTagKey.SPANS_LOCATION]: SPANS_LOCATION_TRACKING_STORE,
        ...(before.name === null && after.name !== null ? { [TraceTagKey.TRACE_NAME]: after.name } : {}),
      });
      await this.replaceTraceRow(trx, before, after);
    });
  }

  async ingestSpans(experimentId: string, traceId: string, fields: SpanBatchFields, spans: SpanRecord[]): Promise<IngestSpansResult> {
    return this.transactions.run(async (trx) => {
      const batch = batchSummaryOf(spans);
      const metadata = fields.metadata;
      const tokens = tokenUsageFromSpans(spans, { prefer: 'innermost' });
      const lead = batch.root ?? batch.localRoot;
      const name = fields.name ?? lead?.name ?? null;
      const previews = rootPreviews(lead);
      const row: TraceRow = {
        trace_id: traceId,
        experiment_id: Number(experimentId),
        client_request_id: null,
        request_time: batch.startMs,
        execution_duration: batch.endMs - batch.startMs,
        state: lead ? rootState(lead) : TraceState.IN_PROGRESS,
        request_preview: previews.request,
        response_preview: previews.response,
        name,
        user_id: metadata[TraceMetadataKey.USER] ?? null,
        session_id: metadata[TraceMetadataKey.SESSION] ?? null,
        input_tokens: tokens?.inputTokens ?? null,
        output_tokens: tokens?.outputTokens ?? null,
        total_tokens: tokens?.totalTokens ?? null,
        span_count: spans.length,
      };
      // The common case, a trace in one batch, costs no read: insert-or-nothing decides.
      const inserted = await trx.insertInto('traces').values(row).onConflict((oc) => oc.column('trace_id').doNothing()).executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
        await insertKeyValues(trx, 'trace_metadata', traceId, metadata);
        await insertKeyValues(trx, 'trace_tags', traceId, {
          ...fields.tags,
          [TraceTagKey.SPANS_LOCATION]: SPANS_LOCATION_TRACKING_STORE,
          ...(name !== null ? { [TraceTagKey.TRACE_NAME]: name } : {}),
        });
        await upsertSpans(trx, traceId, spans);
        await addToRollups(trx, contributionOf(row));
        return { kind: 'created' };
      }

      const before = await this.traceRowForUpdate(trx, traceId);
      if (!before) throw new TraceNotFoundError(traceId);
      if (String(before.experiment_id) !== experimentId) return { kind: 'experiment-conflict', experimentId: String(before.experiment_id) };
      const stored = Object.fromEntries(
        (await trx.selectFrom('trace_metadata').select(['key', 'value']).where('trace_id', '=', traceId).execute()).map((r) => [r.key, r.value]),
      );
      const finalized = stored[TraceMetadataKey.INFO_FINALIZED] === 'true';
      // Metadata is immutable once finalized; before that, keys are only ever added.
      const added = finalized ? {} : Object.fromEntries(Object.entries(metadata).filter(([k]) => !(k in stored)));
      await insertKeyValues(trx, 'trace_metadata', traceId, added);
      const spanCount = await upsertSpans(trx, traceId, spans);
      const keepTokens = finalized && tokenUsageFromMetadata(stored) !== null;
      const allTokens = keepTokens ? null : tokenUsageFromSpans(await this.usageSpans(trx, traceId, spans), { prefer: 'innermost' });
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
        span_count: spanCount,
      };
      await insertMissingTags(trx, traceId, fields.tags);
      await upsertTags(trx, traceId, {
        [TraceTagKey.SPANS_LOCATION]: SPANS_LOCATION_TRACKING_STORE,
        ...(after.name !== null && after.name !== before.name ? { [TraceTagKey.TRACE_NAME]: after.name } : {}),
      });
      await this.replaceTraceRow(trx, before, after);
      return { kind: 'merged' };
    });
  }

  /**
   * The trace's spans as token sums need them: this batch's, plus the stored others with their
   * ids and parents, reading (and parsing) the JSON only of spans that mention a token usage.
   */
  private async usageSpans(trx: Db, traceId: string, batch: readonly SpanRecord[]): Promise<UsageSpan[]> {
    const inBatch = new Set(batch.map((s) => s.spanId));
    const rows = await trx
      .selectFrom('spans')
      .select(['span_id', 'parent_span_id', sql<string | null>`CASE WHEN content LIKE ${`%"${SpanAttributeKey.TOKEN_USAGE}"%`} THEN content END`.as('content')])
      .where('trace_id', '=', traceId)
      .execute();
    const spans: UsageSpan[] = [...batch];
    for (const row of rows) {
      if (inBatch.has(row.span_id)) continue;
      const usage = row.content === null ? undefined : storedTokenUsage(row.content);
      spans.push({ spanId: row.span_id, parentSpanId: row.parent_span_id, attributes: usage === undefined ? {} : { [SpanAttributeKey.TOKEN_USAGE]: usage } });
    }
    return spans;
  }

  async getTrace(traceId: string): Promise<StoredTrace | undefined> {
    return (await this.getTraces([traceId]))[0];
  }

  async getTraces(traceIds: readonly string[]): Promise<StoredTrace[]> {
    const found = new Map<string, StoredTrace>();
    for (let i = 0; i < traceIds.length; i += ID_CHUNK) {
      for (const trace of await loadTraces(this.db, traceIds.slice(i, i + ID_CHUNK))) found.set(trace.traceId, trace);
    }
    return traceIds.flatMap((id) => found.get(id) ?? []);
  }

  async getSpans(traceId: string): Promise<StoredSpan[]> {
    const rows = await this.db
      .selectFrom('spans')
      .select(['span_id', 'parent_span_id', 'content'])
      .where('trace_id', '=', traceId)
      .orderBy('start_ns', 'asc')
      .orderBy('span_id', 'asc')
      .execute();
    return rows.map((r) => ({ spanId: r.span_id, parentSpanId: r.parent_span_id, contentJson: r.content }));
  }

  async searchTraces(request: TraceSearchRequest): Promise<TracePage> {
    return this.tracePage(await findTraceIds(this.db, this.dialect, request));
  }

  async searchSessions(request: RollupSearchRequest): Promise<SessionPage> {
    return findSessions(this.db, this.dialect, request);
  }

  async getSessionTraces(request: SessionTracesRequest): Promise<TracePage | undefined> {
    const page = await findSessionTraceIds(this.db, request);
    return page && this.tracePage(page);
  }

  async searchUsers(request: RollupSearchRequest): Promise<UserPage> {
    return findUsers(this.db, this.dialect, request);
  }

  async traceMetrics(query: TraceMetricsQuery): Promise<TraceMetrics> {
    return queryTraceMetrics(this.db, query);
  }

  private async tracePage(page: TraceIdPage): Promise<TracePage> {
    const traces = await this.getTraces(page.traceIds);
    return page.nextPageToken === undefined ? { traces } : { traces, nextPageToken: page.nextPageToken };
  }

  async setTraceTag(traceId: string, key: string, value: string): Promise<void> {
    await this.transactions.run(async (trx) => {
      await upsertTags(trx, traceId, { [key]: value });
      if (key === TraceTagKey.TRACE_NAME) await trx.updateTable('traces').set({ name: value }).where('trace_id', '=', traceId).execute();
    });
  }

  async deleteTraceTag(traceId: string, key: string): Promise<boolean> {
    return this.transactions.run(async (trx) => {
      const deleted = await trx.deleteFrom('trace_tags').where('trace_id', '=', traceId).where('key', '=', key).executeTakeFirst();
      if (key === TraceTagKey.TRACE_NAME) await trx.updateTable('traces').set({ name: null }).where('trace_id', '=', traceId).execute();
      return Number(deleted.numDeletedRows) > 0;
    });
  }

  async deleteTraces(input: DeleteTracesInput): Promise<number> {
    return this.transactions.run(async (trx) => {
      const experimentId = Number(input.experimentId);
      // What the rollups need of each victim; previews and names stay in the database.
      let query = trx
        .selectFrom('traces')
        .select(['trace_id', 'experiment_id', 'session_id', 'user_id', 'request_time', 'execution_duration', 'state', 'input_tokens', 'output_tokens', 'total_tokens'])
        .where('experiment_id', '=', experimentId);
      if (input.traceIds !== undefined) query = query.where('trace_id', 'in', input.traceIds.length > 0 ? input.traceIds : ['']);
      if (input.maxTimestampMillis !== undefined) query = query.where('request_time', '<=', input.maxTimestampMillis);
      // Oldest first, so max_traces deletes the oldest ones, as MLflow does.
      query = query.orderBy('request_time', 'asc').orderBy('trace_id', 'asc');
      if (input.maxTraces !== undefined) query = query.limit(input.maxTraces);
      const victims = await query.execute();
      for (let i = 0; i < victims.length; i += ID_CHUNK) {
        const ids = victims.slice(i, i + ID_CHUNK).map((v) => v.trace_id);
        for (const table of ['trace_metadata', 'trace_tags', 'spans', 'assessments', 'traces'] as const) {
          await trx.deleteFrom(table).where('trace_id', 'in', ids).execute();
        }
      }
      await recomputeRollups(
        trx,
        experimentId,
        victims.flatMap((v) => v.session_id ?? []),
        victims.flatMap((v) => v.user_id ?? []),
      );
      const unread = { client_request_id: null, request_preview: null, response_preview: null, name: null, span_count: 0 };
      await shiftHours(trx, victims.map((v) => ({ c: contributionOf({ ...v, ...unread }), sign: -1 as const })));
      return victims.length;
    });
  }

  async ping(): Promise<void> {
    await sql`SELECT 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  // ---- helpers -----------------------------------------------------------------------------

  /** Writes the changed columns of a trace row and moves its rollup contribution with it. */
  private async replaceTraceRow(trx: Db, before: TraceRow, after: TraceRow): Promise<void> {
    // Only changed columns: an unchanged indexed column rewritten still costs index pages.
    const changes = Object.fromEntries(Object.entries(after).filter(([column, value]) => before[column as keyof TraceRow] !== value));
    if (Object.keys(changes).length === 0) return;
    await trx.updateTable('traces').set(changes).where('trace_id', '=', after.trace_id).execute();
    const was = contributionOf(before);
    const now = contributionOf(after);
    if (!sameContribution(was, now)) await moveInRollups(trx, was, now);
  }

  private async loadTrace(trx: Db, traceId: string): Promise<StoredTrace> {
    const [trace] = await loadTraces(trx, [traceId]);
    if (!trace) throw new TraceNotFoundError(traceId);
    return trace;
  }

  /**
   * A trace's row, read to be rewritten. On PostgreSQL the row is locked until the transaction
   * ends, so that replicas writing one trace at once (a retry, OTLP batches, a span upload)
   * take turns; SQLite's single writer already does.
   */
  private async traceRowForUpdate(trx: Db, traceId: string): Promise<TraceRow | undefined> {
    const query = trx.selectFrom('traces').selectAll().where('trace_id', '=', traceId);
    return (this.dialect.name === 'postgres' ? query.forUpdate() : query).executeTakeFirst();
  }
}

/** A trace id that no trace has. The HTTP layer answers it with 404. */
export class TraceNotFoundError extends Error {
  constructor(readonly traceId: string) {
    super(`Trace with id '${traceId}' not found.`);
    this.name = 'TraceNotFoundError';
  }
}

/**
 * Inserts or replaces spans on (trace_id, span_id): a repeated span is the same span, resent.
 * Answers how many spans the trace now has.
 */
async function upsertSpans(trx: Db, traceId: string, spans: readonly SpanRecord[]): Promise<number> {
  for (let i = 0; i < spans.length; i += ID_CHUNK) {
    const chunk = spans.slice(i, i + ID_CHUNK);
    await trx
      .insertInto('spans')
      .values(chunk.map((s) => spanRow(traceId, s)))
      .onConflict((oc) =>
        oc.columns(['trace_id', 'span_id']).doUpdateSet((eb) => ({
          parent_span_id: eb.ref('excluded.parent_span_id'),
          name: eb.ref('excluded.name'),
          type: eb.ref('excluded.type'),
          status: eb.ref('excluded.status'),
          start_ns: eb.ref('excluded.start_ns'),
          end_ns: eb.ref('excluded.end_ns'),
          content: eb.ref('excluded.content'),
        })),
      )
      .execute();
  }
  const row = await trx.selectFrom('spans').select((eb) => eb.fn.countAll<number>().as('n')).where('trace_id', '=', traceId).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The name of a trace's stored root span (the earliest, if several claim to be), if it has one. */
async function rootSpanName(trx: Db, traceId: string): Promise<string | null> {
  const row = await trx.selectFrom('spans').select('name').where('trace_id', '=', traceId).where('parent_span_id', 'is', null).orderBy('start_ns').limit(1).executeTakeFirst();
  return row?.name ?? null;
}

/** Sets tags the trace does not have yet; existing values (perhaps a user's edit) stay. */
async function insertMissingTags(trx: Db, traceId: string, tags: Record<string, string>): Promise<void> {
  const rows = Object.entries(tags).map(([key, value]) => ({ trace_id: traceId, key, value }));
  if (rows.length === 0) return;
  await trx.insertInto('trace_tags').values(rows).onConflict((oc) => oc.columns(['trace_id', 'key']).doNothing()).execute();
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

/** `mlflow.chat.tokenUsage` from stored span JSON, where attribute values are JSON-encoded. */
function storedTokenUsage(content: string): unknown {
  try {
    const encoded = (JSON.parse(content) as { attributes?: Record<string, unknown> }).attributes?.[SpanAttributeKey.TOKEN_USAGE];
    return typeof encoded === 'string' ? JSON.parse(encoded) : undefined;
  } catch {
    return undefined;
  }
}

/** Sets tags in one statement, overwriting existing values. */
async function upsertTags(trx: Db, traceId: string, tags: Record<string, string>): Promise<void> {
  const rows = Object.entries(tags).map(([key, value]) => ({ trace_id: traceId, key, value }));
  if (rows.length === 0) return;
  await trx
    .insertInto('trace_tags')
    .values(rows)
    .onConflict((oc) => oc.columns(['trace_id', 'key']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value') })))
    .execute();
}

async function insertKeyValues(trx: Db, table: 'trace_metadata' | 'trace_tags', traceId: string, values: Record<string, string>): Promise<void> {
  const rows = Object.entries(values).map(([key, value]) => ({ trace_id: traceId, key, value }));
  if (rows.length > 0) await trx.insertInto(table).values(rows).execute();
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

function contributionOf(row: TraceRow): RollupContribution {
  return {
    experimentId: Number(row.experiment_id),
    traceId: row.trace_id,
    sessionId: row.session_id,
    userId: row.user_id,
    requestTime: Number(row.request_time),
    endTime: Number(row.request_time) + Number(row.execution_duration ?? 0),
    durationMs: row.execution_duration === null ? null : Number(row.execution_duration),
    isError: row.state === TraceState.ERROR,
    inputTokens: Number(row.input_tokens ?? 0),
    outputTokens: Number(row.output_tokens ?? 0),
    totalTokens: Number(row.total_tokens ?? 0),
    requestPreview: row.request_preview,
    responsePreview: row.response_preview,
  };
}

function sameContribution(a: RollupContribution, b: RollupContribution): boolean {
  return (Object.keys(a) as (keyof RollupContribution)[]).every((k) => a[k] === b[k]);
}

function spanRow(traceId: string, span: SpanRecord) {
  return {
    trace_id: traceId,
    span_id: span.spanId,
    parent_span_id: span.parentSpanId,
    name: span.name,
    type: span.type,
    status: span.status,
    start_ns: span.startNs.toString(),
    end_ns: span.endNs === null ? null : span.endNs.toString(),
    content: spanToMlflowJson(traceId, span),
  };
}

async function loadTraces(db: Db, traceIds: readonly string[]): Promise<StoredTrace[]> {
  if (traceIds.length === 0) return [];
  const ids = [...traceIds];
  const [rows, metadata, tags] = await Promise.all([
    db.selectFrom('traces').selectAll().where('trace_id', 'in', ids).execute(),
    db.selectFrom('trace_metadata').selectAll().where('trace_id', 'in', ids).execute(),
    db.selectFrom('trace_tags').selectAll().where('trace_id', 'in', ids).execute(),
  ]);
  const metadataOf = groupByTrace(metadata);
  const tagsOf = groupByTrace(tags);
  return rows.map((r) => storedTraceOf(r, metadataOf.get(r.trace_id) ?? {}, tagsOf.get(r.trace_id) ?? {}));
}

function storedTraceOf(r: TraceRow, metadata: Record<string, string>, tags: Record<string, string>): StoredTrace {
  return {
    traceId: r.trace_id,
    experimentId: String(r.experiment_id),
    clientRequestId: r.client_request_id,
    requestTimeMs: Number(r.request_time),
    executionDurationMs: r.execution_duration === null ? null : Number(r.execution_duration),
    state: r.state as TraceState,
    requestPreview: r.request_preview,
    responsePreview: r.response_preview,
    metadata,
    tags,
    name: r.name,
    userId: r.user_id,
    sessionId: r.session_id,
    tokenUsage:
      r.total_tokens === null
        ? null
        : { inputTokens: Number(r.input_tokens ?? 0), outputTokens: Number(r.output_tokens ?? 0), totalTokens: Number(r.total_tokens) },
    spanCount: Number(r.span_count),
  };
}

function groupByTrace(rows: { trace_id: string; key: string; value: string }[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const row of rows) {
    let entry = out.get(row.trace_id);
    if (!entry) out.set(row.trace_id, (entry = {}));
    entry[row.key] = row.value;
  }
  return out;
}
