/**
 * Span types. The value is a free string on the wire: any other value is accepted and kept.
 *
 * @example
 * trace(fn, { spanType: SpanType.CHAT_MODEL });
 */
export const SpanType = {
  LLM: 'LLM',
  CHAIN: 'CHAIN',
  AGENT: 'AGENT',
  TOOL: 'TOOL',
  CHAT_MODEL: 'CHAT_MODEL',
  RETRIEVER: 'RETRIEVER',
  PARSER: 'PARSER',
  EMBEDDING: 'EMBEDDING',
  RERANKER: 'RERANKER',
  MEMORY: 'MEMORY',
  WORKFLOW: 'WORKFLOW',
  TASK: 'TASK',
  GUARDRAIL: 'GUARDRAIL',
  EVALUATOR: 'EVALUATOR',
  UNKNOWN: 'UNKNOWN',
} as const;
export type SpanType = (typeof SpanType)[keyof typeof SpanType];

/** Span status codes as written in span JSON. */
export const SpanStatusCode = {
  UNSET: 'STATUS_CODE_UNSET',
  OK: 'STATUS_CODE_OK',
  ERROR: 'STATUS_CODE_ERROR',
} as const;
export type SpanStatusCode = (typeof SpanStatusCode)[keyof typeof SpanStatusCode];

/** A nanosecond timestamp: a bare JSON integer on the wire, often above 2^53. */
export type NanoTime = bigint | number | string;

export interface SpanEventJson {
  name: string;
  time_unix_nano: NanoTime;
  attributes?: Record<string, unknown> | null;
}

/**
 * One span in `traces.json` (`{"spans": [...]}`), as the MLflow SDKs upload it.
 * Ids are base64 of the OTel bytes; the TypeScript SDK mangles `trace_id`, so it is never trusted.
 * Attribute values are plain JSON (TypeScript SDK) or JSON-encoded strings (Python SDK).
 */
export interface SpanJson {
  trace_id: string;
  span_id: string;
  parent_span_id?: string | null;
  name: string;
  start_time_unix_nano: NanoTime;
  end_time_unix_nano?: NanoTime | null;
  status: { code: SpanStatusCode | string; message?: string };
  attributes?: Record<string, unknown> | null;
  events?: SpanEventJson[] | null;
}

export interface TraceDataJson {
  spans: SpanJson[];
}
