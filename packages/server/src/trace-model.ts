import type { TraceState } from '@threadline/protocol';

/**
 * The canonical trace every way in is normalised to (MLflow REST, later OTLP), and every store
 * writes. Ids are lowercase hex; times are numbers in the unit their name says.
 */
export interface TraceRecord {
  /** `tr-` + 32 hex from the SDKs and OTLP; any id a client chose (a UUID, say) within `TRACE_ID_PATTERN`. */
  traceId: string;
  experimentId: string;
  clientRequestId: string | null;
  requestTimeMs: number;
  executionDurationMs: number | null;
  state: TraceState;
  requestPreview: string | null;
  responsePreview: string | null;
  /** Immutable once stored. */
  metadata: Record<string, string>;
  tags: Record<string, string>;
}

/** MLflow's cost shape in USD (`mlflow.trace.cost`, `mlflow.llm.cost`); the parts only when known. */
export interface MlflowCostJson {
  input_cost?: number;
  output_cost?: number;
  total_cost: number;
}

/** A trace as stored: its record plus what the store derived from it and from its spans. */
export interface StoredTrace extends TraceRecord {
  /** Root span name (tag `mlflow.traceName` when set). */
  name: string | null;
  userId: string | null;
  sessionId: string | null;
  tokenUsage: TokenCounts | null;
  /** MLflow's cost shape (`mlflow.trace.cost`) in USD; null without a priced call. */
  cost: MlflowCostJson | null;
  /** LLM calls of models no price is known for. */
  unpricedCalls: number;
  spanCount: number;
  /** Oldest first; overridden ones included, with `valid: false`. */
  assessments: StoredAssessment[];
}

export type AssessmentKind = 'feedback' | 'expectation';

/** `source_type` (HUMAN, LLM_JUDGE, CODE) and `source_id` of an assessment. */
export interface AssessmentSource {
  sourceType: string;
  sourceId: string;
}

/** Why feedback has no value: the error met while producing it. */
export interface AssessmentErrorInfo {
  errorCode: string | null;
  errorMessage: string | null;
  stackTrace: string | null;
}

/** An assessment's value: feedback (a value, an error, or both) or an expectation (a value). */
export interface AssessmentValue {
  kind: AssessmentKind;
  /** Any JSON value; null for feedback that has only an error. */
  value: unknown;
  error: AssessmentErrorInfo | null;
}

/** What an assessment says, however it is held. */
export interface AssessmentFields extends AssessmentValue {
  name: string;
  spanId: string | null;
  source: AssessmentSource;
  rationale: string | null;
  metadata: Record<string, string>;
  /** The id of an assessment of the same trace that this one replaces. */
  overrides: string | null;
}

/** A session assessed as a whole (not through one of its traces). */
export interface AssessedSession {
  experimentId: string;
  sessionId: string;
}

/** An assessment as a client gives it, before the store has given it an id and a place. */
export interface AssessmentInput extends AssessmentFields {
  /** Given by the client (assessments logged inside trace info); else the store chooses. */
  assessmentId: string | null;
  /** Client times; the store uses its clock for those not given. */
  createTimeMs: number | null;
  lastUpdateTimeMs: number | null;
}

export interface StoredAssessment extends AssessmentFields {
  assessmentId: string;
  /** The trace assessed; null for an assessment of a whole session. */
  traceId: string | null;
  /** The session assessed as a whole; null for an assessment of a trace. */
  session: AssessedSession | null;
  /** False while another assessment overrides this one. */
  valid: boolean;
  createTimeMs: number;
  lastUpdateTimeMs: number;
}

/** What an update changes; fields left out stay. `metadata` is merged into the stored map. */
export interface AssessmentChanges {
  name?: string;
  value?: AssessmentValue;
  rationale?: string | null;
  metadata?: Record<string, string>;
  valid?: boolean;
}

export interface TokenCounts {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

export type SpanStatus = 'OK' | 'ERROR' | 'UNSET';

export interface SpanEventRecord {
  name: string;
  timeNs: bigint;
  attributes: Record<string, unknown>;
}

export interface SpanRecord {
  /** 16 hex digits. */
  spanId: string;
  parentSpanId: string | null;
  /** Its parent is in another process (OTLP span flags): the root of this process's part of the trace. */
  parentIsRemote?: true;
  name: string;
  /** `mlflow.spanType`, or null when the span has none. */
  type: string | null;
  status: SpanStatus;
  statusMessage: string;
  startNs: bigint;
  endNs: bigint | null;
  /** Decoded values: whatever JSON the producer meant, never JSON-encoded twice. */
  attributes: Record<string, unknown>;
  events: SpanEventRecord[];
}

/**
 * What a batch of spans says about its trace, beyond the spans themselves (OTLP ingest): values
 * that are only ever added where the trace has none, never overwriting what it has.
 */
export interface SpanBatchFields {
  /** Candidate metadata, `mlflow.trace.user` and `mlflow.trace.session` among them. */
  metadata: Record<string, string>;
  /** Candidate tags. */
  tags: Record<string, string>;
  /** A trace name given explicitly (e.g. `langfuse.trace.name`), preferred to the root span's. */
  name: string | null;
}
