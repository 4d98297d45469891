import { parseJsonBody } from '../ingest/json-body.js';
import { isObject } from '../ingest/mlflow-spans.js';

type AnyValueJson =
  | { string_value: string }
  | { bool_value: boolean }
  | { int_value: number }
  | { double_value: number };

/** A span as the trace endpoints serve it; its attribute values are JSON-encoded strings. */
export interface OtlpSpanJson {
  attributes: { key: string; value: AnyValueJson }[];
  [field: string]: unknown;
}

/**
 * A stored span (MLflow span JSON) as the OpenTelemetry proto Span JSON that
 * `GET /api/3.0/mlflow/traces/get` returns: attributes become a `[{key, value}]` list of
 * `AnyValue`, span attribute values staying JSON-encoded strings as MLflow keeps them.
 * Nanosecond values stay exact (decimal strings, then bare integers when written).
 */
export function storedSpanToOtlpJson(contentJson: string): OtlpSpanJson {
  const span = parseJsonBody(contentJson) as Record<string, unknown>;
  const attributes = isObject(span.attributes) ? span.attributes : {};
  const events = Array.isArray(span.events) ? span.events : [];
  return {
    trace_id: span.trace_id,
    span_id: span.span_id,
    parent_span_id: span.parent_span_id ?? '',
    name: span.name,
    start_time_unix_nano: toBigInt(span.start_time_unix_nano),
    end_time_unix_nano: toBigInt(span.end_time_unix_nano),
    attributes: Object.entries(attributes).map(([key, value]) => ({ key, value: { string_value: String(value) } })),
    events: events.filter(isObject).map((e) => ({
      time_unix_nano: toBigInt(e.time_unix_nano),
      name: e.name,
      attributes: Object.entries(isObject(e.attributes) ? e.attributes : {}).map(([key, value]) => ({ key, value: anyValue(value) })),
    })),
    status: span.status,
  };
}

function toBigInt(value: unknown): bigint | null {
  return typeof value === 'string' || typeof value === 'number' ? BigInt(value) : null;
}

function anyValue(value: unknown): AnyValueJson {
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { int_value: value } : { double_value: value };
  return { string_value: JSON.stringify(value) };
}
