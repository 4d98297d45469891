import type { TraceState } from '@threadline/protocol';

/**
 * The canonical trace every way in is normalised to (MLflow REST, later OTLP), and every store
 * writes. Ids are lowercase hex; times are numbers in the unit their name says.
 */
export interface TraceRecord {
  /** `tr-` + 32 hex. */
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

/** A trace as stored: its record plus what the store derived from it and from its spans. */
export interface StoredTrace extends TraceRecord {
  /** Root span name (tag `mlflow.traceName` when set). */
  name: string | null;
  userId: string | null;
  sessionId: string | null;
  tokenUsage: TokenCounts | null;
  spanCount: number;
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
