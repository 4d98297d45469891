import type { ExperimentJson, ViewType } from '@threadline/protocol';
import type { RollupSearchRequest, SessionPage, SessionTracesRequest, TraceSearchRequest, UserPage } from '../query/index.js';
import type { AssessedSession, AssessmentChanges, AssessmentInput, MlflowCostJson, SpanBatchFields, SpanRecord, StoredAssessment, StoredTrace, TraceRecord } from '../trace-model.js';
import type { TraceMetrics, TraceMetricsQuery } from './trace-metrics.js';
import type { Pricing } from './pricing.js';
import type { TextIndex } from './trace-text.js';
import type { FilterSuggestions } from './filter-suggestions.js';
import type { Erasures } from './erasures.js';
import type { Retention } from './retention.js';
import type { ExperimentRedactionRules } from './redaction-rules.js';
import type { ChangeFeed } from './change-feed.js';
import type { ModelMetricsQuery, ModelSeries } from './model-metrics.js';
import type { FeedbackMetrics, FeedbackMetricsQuery } from './feedback-metrics.js';
import type { MetricDataPage, MetricsQuery } from './mlflow-trace-metrics.js';

export interface Experiment {
  experimentId: string;
  name: string;
  artifactLocation: string;
  lifecycleStage: ExperimentJson['lifecycle_stage'];
  creationTime: number;
  lastUpdateTime: number;
  tags: Record<string, string>;
}

export interface CreateExperimentInput {
  name: string;
  /** Defaults to `mlflow-artifacts:/<id>`. */
  artifactLocation?: string;
  tags?: Record<string, string>;
}

export interface SearchExperimentsInput {
  viewType: ViewType;
  maxResults: number;
  /** Offset into the ordered list, decoded from a page token by the caller. */
  offset: number;
  /** Case-sensitive LIKE pattern on the name (the only filter the UI sends). */
  nameLike?: string;
}

/** The outcome of logging a trace's info. */
export type StartTraceResult =
  | { kind: 'created'; trace: StoredTrace }
  /** Same trace id and identical metadata: a client's retry, or the info arriving after spans. */
  | { kind: 'updated'; trace: StoredTrace }
  /** Same trace id with different metadata: refused, nothing changed. */
  | { kind: 'metadata-conflict'; trace: StoredTrace; keys: string[] }
  /** Same trace id in another experiment: refused, nothing changed. */
  | { kind: 'experiment-conflict'; trace: StoredTrace }
  /**
   * The trace has finished (its info was logged in state OK or ERROR) and this log would change
   * what happened: `fields` (MLflow names: state, request_time, ...). Refused, nothing changed.
   */
  | { kind: 'finished-conflict'; trace: StoredTrace; fields: string[] };

/** The outcome of uploading a trace's spans. */
export type LogSpansResult =
  /** Every span is stored: new ones added, repeats of stored ones (a retry) left as they were. */
  | { kind: 'stored' }
  /** Spans are write-once: these ids are stored with other content. Refused, nothing changed. */
  | { kind: 'span-conflict'; spanIds: string[] };

/** The outcome of ingesting a batch of a trace's spans without its info (OTLP). */
export type IngestSpansResult =
  /**
   * Stored, except `rejectedSpanIds`: spans that would have replaced stored ones with other
   * content (spans are write-once), or repeated an id within the batch; those were left out.
   */
  | { kind: 'created' | 'merged'; rejectedSpanIds?: string[] }
  /** The trace exists in another experiment: refused, nothing changed. */
  | { kind: 'experiment-conflict'; experimentId: string };

export interface DeleteTracesInput {
  experimentId: string;
  traceIds?: string[];
  maxTimestampMillis?: number;
  maxTraces?: number;
}

export interface TracePage {
  traces: StoredTrace[];
  nextPageToken?: string;
}

/** A span as stored, with its JSON exactly as it is served in `traces.json`. */
export interface StoredSpan {
  spanId: string;
  parentSpanId: string | null;
  /** MLflow span JSON, attributes JSON-encoded, nanosecond integers exact. */
  contentJson: string;
}

/**
 * The one store interface. `createStore(uri)` picks the implementation; nothing above it asks
 * which database it talks to.
 */
export interface TraceStore {
  createExperiment(input: CreateExperimentInput): Promise<string>;
  getExperiment(experimentId: string): Promise<Experiment | undefined>;
  getExperimentByName(name: string): Promise<Experiment | undefined>;
  searchExperiments(input: SearchExperimentsInput): Promise<Experiment[]>;
  renameExperiment(experimentId: string, newName: string): Promise<void>;
  setExperimentLifecycle(experimentId: string, stage: Experiment['lifecycleStage']): Promise<void>;
  setExperimentTag(experimentId: string, key: string, value: string): Promise<void>;
  deleteExperimentTag(experimentId: string, key: string): Promise<void>;

  /**
   * Logs a trace's info. Metadata is immutable; tags may change; the rest of the info may change
   * until the trace has finished, after which only an identical re-log (a retry) is accepted.
   */
  startTrace(trace: TraceRecord, assessments?: readonly AssessmentInput[]): Promise<StartTraceResult>;
  /**
   * Stores a trace's spans and derives name and tokens. Spans are write-once: stored ones are
   * never replaced, and an upload that would change one is refused whole.
   * Throws TraceNotFoundError when the trace does not exist (in `experimentId`, when given).
   */
  logSpans(traceId: string, spans: SpanRecord[], options?: { experimentId?: string }): Promise<LogSpansResult>;
  /**
   * Stores a batch of a trace's spans that came without trace info (OTLP), in one transaction:
   * creates the trace (not finalized, IN_PROGRESS until its root span arrives) or merges into it.
   * Batches may come in any order and repeat spans; the trace's times, state, name, previews,
   * tokens and rollups always reflect every span stored. `fields` values are only added where the
   * trace has none, and metadata not at all once the trace is finalized. A span already stored
   * with other content is left as it was and reported in `rejectedSpanIds`.
   */
  ingestSpans(experimentId: string, traceId: string, fields: SpanBatchFields, spans: SpanRecord[]): Promise<IngestSpansResult>;
  getTrace(traceId: string): Promise<StoredTrace | undefined>;
  /** The traces among `traceIds` that exist, in the order asked. */
  getTraces(traceIds: readonly string[]): Promise<StoredTrace[]>;
  /** The experiments of the traces among `traceIds` that exist, each once: what an access check needs, without loading the traces. */
  experimentsOfTraces(traceIds: readonly string[]): Promise<string[]>;
  getSpans(traceId: string): Promise<StoredSpan[]>;
  /**
   * The priced LLM calls' cost (USD, MLflow's `mlflow.llm.cost` shape) by trace, then span id,
   * of the counted calls only, so that they add up to the trace's cost.
   */
  spanCosts(traceIds: readonly string[]): Promise<Map<string, Map<string, MlflowCostJson>>>;
  /** One page of traces matching an MLflow filter; bad filters, orders or tokens are a 400 ApiError. */
  searchTraces(request: TraceSearchRequest): Promise<TracePage>;
  setTraceTag(traceId: string, key: string, value: string): Promise<void>;
  /** False when the trace has no such tag. */
  deleteTraceTag(traceId: string, key: string): Promise<boolean>;
  deleteTraces(input: DeleteTracesInput): Promise<number>;

  /**
   * Adds an assessment to a trace; with `overrides`, the overridden one becomes invalid. Throws
   * TraceNotFoundError, or AssessmentNotFoundError when the overridden one is not the trace's.
   */
  createAssessment(traceId: string, input: AssessmentInput): Promise<StoredAssessment>;
  /** Throws TraceNotFoundError or AssessmentNotFoundError. */
  getAssessment(traceId: string, assessmentId: string): Promise<StoredAssessment>;
  /** Changes what `changes` names (metadata merged); a value of the other kind is a 400 ApiError. */
  updateAssessment(traceId: string, assessmentId: string, changes: AssessmentChanges): Promise<StoredAssessment>;
  /** Idempotent, as in MLflow; the overridden one, if any, becomes valid again. Throws TraceNotFoundError. */
  deleteAssessment(traceId: string, assessmentId: string): Promise<void>;

  /**
   * Assessments of a whole session (not of one of its traces); the same rules as a trace's. An
   * unknown session is a 404 ApiError. Feedback on a session counts for it and for its users.
   */
  createSessionAssessment(session: AssessedSession, input: AssessmentInput): Promise<StoredAssessment>;
  /** Its own, then those logged on its traces with metadata `mlflow.trace.session` (MLflow's convention); oldest first. */
  listSessionAssessments(session: AssessedSession): Promise<StoredAssessment[]>;
  /** One of the session's own; throws AssessmentNotFoundError otherwise. */
  getSessionAssessment(session: AssessedSession, assessmentId: string): Promise<StoredAssessment>;
  updateSessionAssessment(session: AssessedSession, assessmentId: string, changes: AssessmentChanges): Promise<StoredAssessment>;
  /** Idempotent, as for a trace's. */
  deleteSessionAssessment(session: AssessedSession, assessmentId: string): Promise<void>;

  /** One page of an experiment's sessions from the `sessions` rollup; bad requests are a 400 ApiError. */
  searchSessions(request: RollupSearchRequest): Promise<SessionPage>;
  /** A session's traces oldest first, one page at a time; undefined when the experiment has no such session. */
  getSessionTraces(request: SessionTracesRequest): Promise<TracePage | undefined>;
  /** One page of an experiment's users from the `users` rollup; bad requests are a 400 ApiError. */
  searchUsers(request: RollupSearchRequest): Promise<UserPage>;
  /** Traces of a time range counted per time bucket (and per busiest user or session), for charts. */
  traceMetrics(query: TraceMetricsQuery): Promise<TraceMetrics>;
  /** Valid feedback per hour bucket and name (and per given user or session), for charts. */
  feedbackMetrics(query: FeedbackMetricsQuery): Promise<FeedbackMetrics>;
  /** Counted LLM calls per hour bucket and model, for the overview's cost by model. */
  modelMetrics(query: ModelMetricsQuery): Promise<ModelSeries[]>;

  /** Operators' model prices and re-pricing of stored traces. */
  readonly pricing: Pricing;
  /** The text index of trace content: indexing stored traces again. */
  readonly textIndex: TextIndex;
  /** Erasing a user's or a session's data, with receipts. */
  readonly erasures: Erasures;
  /** Deleting traces older than their experiment's retention. */
  readonly retention: Retention;
  /** What committed writes changed, for live updates: this process's writes, and on PostgreSQL every replica's. */
  readonly changes: ChangeFeed;

  /** What a filter box offers while a filter is typed: keys in use, user and session ids. */
  readonly filterSuggestions: FilterSuggestions;

  /** Experiments' own redaction rules; applied at ingest by redaction/, not by the store. */
  readonly redactionRules: ExperimentRedactionRules;

  /** MLflow's trace metrics: one metric of traces, spans or assessments per group; bad requests are a 400 ApiError. */
  queryMetricDataPoints(query: MetricsQuery): Promise<MetricDataPage>;

  /** Resolves once the database answered a trivial query; rejects when it cannot be reached. */
  ping(): Promise<void>;

  close(): Promise<void>;
}
