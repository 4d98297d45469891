// @threadline/tracing: the MLflow TypeScript SDK's API on OpenTelemetry, with users and sessions.
// Every export is listed by name; nothing else is reachable.

// Tracing API (mirrors @mlflow/core)
export { init, flushTraces, getExportStats } from './init.js';
export type { InitOptions, FlushOptions } from './init.js';
export { trace, withSpan, startSpan, updateCurrentTrace, getCurrentActiveSpan, getLastActiveTraceId } from './tracing-api.js';
export type { TraceOptions, SpanOptions, UpdateCurrentTraceOptions } from './tracing-api.js';
export { tracingContext, traceContextHeaders } from './tracing-context.js';
export type { TracingContextOptions } from './tracing-context.js';
export { redactText, createRedactor, REDACTION_DETECTORS } from './redaction.js';
export type { RedactionRules, RedactionPattern, RedactionDetector } from './redaction.js';
export type { RedactOption, RedactFunction, RedactionSite, RedactionField } from './span-redaction.js';
export type { LiveSpan, Span, SpanStatus, SpanEvent, EndSpanOptions } from './live-span.js';
export {
  SpanType,
  SpanStatusCode,
  SpanAttributeKey,
  TraceMetadataKey,
  TraceTagKey,
  TokenUsageKey,
  TRACE_ID_PREFIX,
  TRACE_SCHEMA_VERSION,
  REQUEST_RESPONSE_PREVIEW_MAX_LENGTH,
} from '@threadline/protocol';
export { DEFAULT_SPAN_NAME, NO_OP_SPAN_TRACE_ID } from './constants.js';
export type { TokenUsage } from '@threadline/protocol';

// Client
export { ThreadlineClient, ThreadlineClient as MlflowClient } from './threadline-client.js';
export { logFeedback, logExpectation, getAssessment, updateAssessment, overrideFeedback, deleteAssessment, logSessionFeedback } from './assessment-api.js';
export type { Assessment, AssessmentSource, AssessmentChanges, LogFeedbackOptions, LogExpectationOptions, OverrideFeedbackOptions } from './assessments.js';
export { AssessmentSourceType } from '@threadline/protocol';
export type {
  ThreadlineClientOptions,
  AuthProviderLike,
  TraceInfo,
  Trace,
  TraceData,
  SearchTracesOptions,
  SearchTracesResult,
  SearchRollupsOptions,
  GetSessionTracesOptions,
  SessionSummary,
  UserSummary,
} from './threadline-client.js';

// Request middleware
export { threadlineSessions, threadlineSessionsFastify, threadlineSessionsHono } from './middleware/session-middleware.js';
export type { SessionMiddlewareOptions, NodeRequestLike, FastifyLike, HonoContextLike } from './middleware/session-middleware.js';

// Machinery: processor, export queue, exporters, logger
export { ThreadlineSpanProcessor } from './span-processor.js';
export { getSpanProcessor } from './runtime.js';
export { TraceExportQueue } from './exporters/trace-export-queue.js';
export type { ExportQueueOptions, ExportStats } from './exporters/trace-export-queue.js';
export { ExportResultCode, ThreadlineRequestError } from './exporters/trace-exporter.js';
export type { TraceExporter, FinishedTrace, ExportResult, ExportFailure, ExportFailureKind } from './exporters/trace-exporter.js';
export { MlflowRestExporter } from './exporters/mlflow-rest-exporter.js';
export type { MlflowRestExporterOptions } from './exporters/mlflow-rest-exporter.js';
export { OtlpTraceExporter } from './exporters/otlp-trace-exporter.js';
export type { OtlpTraceExporterOptions } from './exporters/otlp-trace-exporter.js';
export type { ExperimentOptions } from './exporters/experiment-id.js';
export { InMemoryTraceExporter } from './exporters/in-memory-trace-exporter.js';
export type { InMemoryTraceExporterOptions, ExportedTrace } from './exporters/in-memory-trace-exporter.js';
export type { TrackingServerOptions, HeadersProvider } from './rest-client.js';
export { setLogger, consoleLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';
