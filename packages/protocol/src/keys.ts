/** Prefix of every V3 trace id: `tr-` followed by the 32 lowercase hex digits of the OTel trace id. */
export const TRACE_ID_PREFIX = 'tr-';
/** Value of metadata `mlflow.trace_schema.version` written by current SDKs. */
export const TRACE_SCHEMA_VERSION = '3';
/** Request and response previews are cut to this many characters (MLflow OSS). */
export const REQUEST_RESPONSE_PREVIEW_MAX_LENGTH = 1000;
/** Id and name of the experiment that always exists. */
export const DEFAULT_EXPERIMENT_ID = '0';
export const DEFAULT_EXPERIMENT_NAME = 'Default';

/**
 * Reserved trace metadata keys. Metadata is immutable once a trace is logged.
 *
 * @example
 * updateCurrentTrace({ metadata: { [TraceMetadataKey.USER]: 'user-123' } });
 */
export const TraceMetadataKey = {
  SCHEMA_VERSION: 'mlflow.trace_schema.version',
  /** The application's end user (not `mlflow.user`, the developer whose environment made the trace). */
  USER: 'mlflow.trace.user',
  /** The conversation a trace belongs to. */
  SESSION: 'mlflow.trace.session',
  TOKEN_USAGE: 'mlflow.trace.tokenUsage',
  COST: 'mlflow.trace.cost',
  INPUTS: 'mlflow.traceInputs',
  OUTPUTS: 'mlflow.traceOutputs',
  SOURCE_RUN: 'mlflow.sourceRun',
  MODEL_ID: 'mlflow.modelId',
  SIZE_BYTES: 'mlflow.trace.sizeBytes',
  SIZE_STATS: 'mlflow.trace.sizeStats',
  /** Set by the server when a trace's info has been logged through StartTraceV3. */
  INFO_FINALIZED: 'mlflow.trace.infoFinalized',
} as const;
export type TraceMetadataKey = (typeof TraceMetadataKey)[keyof typeof TraceMetadataKey];

/** Reserved trace tag keys. Tags stay mutable. */
export const TraceTagKey = {
  ARTIFACT_LOCATION: 'mlflow.artifactLocation',
  TRACE_NAME: 'mlflow.traceName',
  SPANS_LOCATION: 'mlflow.trace.spansLocation',
  LINKED_PROMPTS: 'mlflow.linkedPrompts',
} as const;
export type TraceTagKey = (typeof TraceTagKey)[keyof typeof TraceTagKey];

/** Value of tag `mlflow.trace.spansLocation` for spans kept in the tracking store's database. */
export const SPANS_LOCATION_TRACKING_STORE = 'TRACKING_STORE';

/** Reserved span attribute keys. */
export const SpanAttributeKey = {
  TRACE_ID: 'mlflow.traceRequestId',
  EXPERIMENT_ID: 'mlflow.experimentId',
  SPAN_TYPE: 'mlflow.spanType',
  INPUTS: 'mlflow.spanInputs',
  OUTPUTS: 'mlflow.spanOutputs',
  FUNCTION_NAME: 'mlflow.spanFunctionName',
  TOKEN_USAGE: 'mlflow.chat.tokenUsage',
  CHAT_TOOLS: 'mlflow.chat.tools',
  MESSAGE_FORMAT: 'mlflow.message.format',
  LLM_COST: 'mlflow.llm.cost',
  LLM_MODEL: 'mlflow.llm.model',
  LLM_PROVIDER: 'mlflow.llm.provider',
} as const;
export type SpanAttributeKey = (typeof SpanAttributeKey)[keyof typeof SpanAttributeKey];

/** Keys of a token usage object (`mlflow.chat.tokenUsage`, `mlflow.trace.tokenUsage`). */
export const TokenUsageKey = {
  INPUT_TOKENS: 'input_tokens',
  OUTPUT_TOKENS: 'output_tokens',
  TOTAL_TOKENS: 'total_tokens',
} as const;

export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}

/** Guaranteed lengths (MLflow): longer keys or values are refused. */
export const MAX_METADATA_KEY_LENGTH = 250;
export const MAX_METADATA_VALUE_LENGTH = 250;
export const MAX_TAG_KEY_LENGTH = 250;
export const MAX_TAG_VALUE_LENGTH = 4096;
