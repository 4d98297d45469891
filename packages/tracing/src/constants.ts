/** Name of a span when neither the options nor the function give one. */
export const DEFAULT_SPAN_NAME = 'span';

/** Trace id reported by spans that record nothing (tracing disabled or not initialised). */
export const NO_OP_SPAN_TRACE_ID = 'no-op-span-trace-id';

/** Instrumentation scope of the spans this SDK creates. */
export const TRACER_NAME = '@threadline/tracing';
export const TRACER_VERSION = '0.1.0';

/**
 * OpenTelemetry semantic-convention keys copied onto a root span when its trace has a user or a
 * session, so OTLP consumers (Phoenix, Langfuse, MLflow's /v1/traces) understand the same spans.
 */
export const OtelAttributeKey = {
  USER_ID: 'user.id',
  SESSION_ID: 'session.id',
} as const;
