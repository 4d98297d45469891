import { LifecycleStage } from '@threadline/protocol';
import { sql, type Kysely, type Selectable } from 'kysely';
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
import type { AssessedSession, AssessmentChanges, AssessmentInput, MlflowCostJson, SpanBatchFields, SpanRecord, StoredAssessment, StoredTrace, TraceRecord } from '../trace-model.js';
import { AssessmentWrites } from './assessments.js';
import { countAssessmentChanges } from './feedback-rollups.js';
import type { Database } from './schema.js';
import type { SqlDialect } from './sql-dialect.js';
import { queryTraceMetrics, type TraceMetrics, type TraceMetricsQuery } from './trace-metrics.js';
import { PriceSource } from '../cost/price-source.js';
import { ModelPrices } from './model-prices.js';
import { Pricing } from './pricing.js';
import { TextIndex } from './trace-text.js';
import { FilterSuggestions } from './filter-suggestions.js';
import { Erasures } from './erasures.js';
import { Retention } from './retention.js';
import { ExperimentRedactionRules } from './redaction-rules.js';
import { queryModelMetrics, type ModelMetricsQuery, type ModelSeries } from './model-metrics.js';
import { queryFeedbackMetrics, type FeedbackMetrics, type FeedbackMetricsQuery } from './feedback-metrics.js';
import { queryMetricDataPoints, type MetricDataPage, type MetricsQuery } from './mlflow-trace-metrics.js';
import { DirectTransactions, GroupCommitTransactions } from './group-commit.js';
import { LocalChangeFeed, PublishingTransactions, type ChangeFeed } from './change-feed.js';
import type {
  CreateExperimentInput,
  DeleteTracesInput,
  Experiment,
  IngestSpansResult,
  LogSpansResult,
  SearchExperimentsInput,
  StartTraceResult,
  StoredSpan,
  TracePage,
  TraceStore,
} from './store.js';
import { loadTraces, traceKeysOf } from './trace-rows.js';
import { spanCostsOfTraces } from './cost-writes.js';
import { TraceWrites } from './trace-writes.js';

export { TraceNotFoundError } from './trace-rows.js';
export { AssessmentNotFoundError } from './assessments.js';

/** Large id lists are read in chunks, well under every database's bound-parameter limit. */
const ID_CHUNK = 500;

/**
 * The store on any SQL database Kysely speaks. Dialect quirks come from `dialect`; the
 * per-database folders only open connections and hand them here. Writes of traces live in
 * trace-writes.ts, their rollups in rollups.ts; this class composes them with the reads.
 */
export class KyselyTraceStore implements TraceStore {
  private readonly transactions: PublishingTransactions;
  private readonly writes: TraceWrites;
  private readonly assessments: AssessmentWrites;
  readonly pricing: Pricing;
  readonly textIndex: TextIndex;
  readonly filterSuggestions: FilterSuggestions;
  readonly erasures: Erasures;
  readonly retention: Retention;
  readonly redactionRules: ExperimentRedactionRules;
  readonly changes: ChangeFeed;
  private readonly checkHealth: (() => void) | undefined;

  /**
   * @param groupCommit share each commit among the writes in flight (for single-writer SQLite);
   *   otherwise every write is its own transaction.
   * @param changes where committed writes are told (store/change-feed.ts); by default this process's listeners.
   * @param checkHealth throws why the store cannot work now, beyond its database answering (`ping`).
   */
  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: SqlDialect,
    options: { groupCommit?: boolean; changes?: ChangeFeed; checkHealth?: () => void } = {},
  ) {
    this.checkHealth = options.checkHealth;
    this.changes = options.changes ?? new LocalChangeFeed();
    this.transactions = new PublishingTransactions(options.groupCommit ? new GroupCommitTransactions(db) : new DirectTransactions(db), this.changes);
    this.assessments = new AssessmentWrites(db, dialect, this.transactions, countAssessmentChanges);
    const prices = new ModelPrices(db);
    const priceSource = new PriceSource(() => prices.list());
    this.writes = new TraceWrites(dialect, this.transactions, this.assessments, priceSource);
    this.pricing = new Pricing(db, prices, priceSource, this.writes);
    this.textIndex = new TextIndex(db, dialect, this.transactions);
    this.filterSuggestions = new FilterSuggestions(db);
    this.erasures = new Erasures(db, dialect, this.transactions, this);
    this.retention = new Retention(db, dialect, this.transactions);
    this.redactionRules = new ExperimentRedactionRules(db);
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

  startTrace(record: TraceRecord, assessments?: readonly AssessmentInput[]): Promise<StartTraceResult> {
    return this.writes.startTrace(record, assessments);
  }

  logSpans(traceId: string, spans: SpanRecord[], options: { experimentId?: string } = {}): Promise<LogSpansResult> {
    return this.writes.logSpans(traceId, spans, options);
  }

  ingestSpans(experimentId: string, traceId: string, fields: SpanBatchFields, spans: SpanRecord[]): Promise<IngestSpansResult> {
    return this.writes.ingestSpans(experimentId, traceId, fields, spans);
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

  async experimentsOfTraces(traceIds: readonly string[]): Promise<string[]> {
    const experiments = new Set<string>();
    for (let i = 0; i < traceIds.length; i += ID_CHUNK) {
      const rows = await this.db.selectFrom('traces').select('experiment_id').distinct().where('trace_id', 'in', traceIds.slice(i, i + ID_CHUNK)).execute();
      for (const row of rows) experiments.add(String(row.experiment_id));
    }
    return [...experiments];
  }

  async getSpans(traceId: string): Promise<StoredSpan[]> {
    const rows = await this.db
      .selectFrom('spans')
      .select(['span_id', 'parent_span_id', 'content'])
      .where('trace_key', '=', traceKeysOf(this.db, traceId))
      .orderBy('start_ns', 'asc')
      .orderBy('span_id', 'asc')
      .execute();
    return rows.map((r) => ({ spanId: r.span_id, parentSpanId: r.parent_span_id, contentJson: r.content }));
  }

  async spanCosts(traceIds: readonly string[]): Promise<Map<string, Map<string, MlflowCostJson>>> {
    return spanCostsOfTraces(this.db, traceIds);
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

  async feedbackMetrics(query: FeedbackMetricsQuery): Promise<FeedbackMetrics> {
    return queryFeedbackMetrics(this.db, query);
  }

  async modelMetrics(query: ModelMetricsQuery): Promise<ModelSeries[]> {
    return queryModelMetrics(this.db, query);
  }

  queryMetricDataPoints(query: MetricsQuery): Promise<MetricDataPage> {
    return queryMetricDataPoints(this.db, this.dialect, query);
  }

  private async tracePage(page: TraceIdPage): Promise<TracePage> {
    const traces = await this.getTraces(page.traceIds);
    return page.nextPageToken === undefined ? { traces } : { traces, nextPageToken: page.nextPageToken };
  }

  setTraceTag(traceId: string, key: string, value: string): Promise<void> {
    return this.writes.setTraceTag(traceId, key, value);
  }

  deleteTraceTag(traceId: string, key: string): Promise<boolean> {
    return this.writes.deleteTraceTag(traceId, key);
  }

  deleteTraces(input: DeleteTracesInput): Promise<number> {
    return this.writes.deleteTraces(input);
  }

  // ---- assessments (store/assessments.ts) ------------------------------------------------

  createAssessment(traceId: string, input: AssessmentInput): Promise<StoredAssessment> {
    return this.assessments.create({ traceId }, input);
  }

  getAssessment(traceId: string, assessmentId: string): Promise<StoredAssessment> {
    return this.assessments.get({ traceId }, assessmentId);
  }

  updateAssessment(traceId: string, assessmentId: string, changes: AssessmentChanges): Promise<StoredAssessment> {
    return this.assessments.update({ traceId }, assessmentId, changes);
  }

  deleteAssessment(traceId: string, assessmentId: string): Promise<void> {
    return this.assessments.delete({ traceId }, assessmentId);
  }

  createSessionAssessment(session: AssessedSession, input: AssessmentInput): Promise<StoredAssessment> {
    return this.assessments.create(session, input);
  }

  listSessionAssessments(session: AssessedSession): Promise<StoredAssessment[]> {
    return this.assessments.listForSession(session.experimentId, session.sessionId);
  }

  getSessionAssessment(session: AssessedSession, assessmentId: string): Promise<StoredAssessment> {
    return this.assessments.get(session, assessmentId);
  }

  updateSessionAssessment(session: AssessedSession, assessmentId: string, changes: AssessmentChanges): Promise<StoredAssessment> {
    return this.assessments.update(session, assessmentId, changes);
  }

  deleteSessionAssessment(session: AssessedSession, assessmentId: string): Promise<void> {
    return this.assessments.delete(session, assessmentId);
  }

  async ping(): Promise<void> {
    this.checkHealth?.();
    await sql`SELECT 1`.execute(this.db);
  }

  async close(): Promise<void> {
    await this.changes.close();
    await this.db.destroy();
  }
}
