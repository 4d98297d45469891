import { SpanStatusCode } from '@threadline/protocol';
import { stringifyJson } from '../json.js';
import type { SpanRecord, SpanStatus } from '../trace-model.js';

const STATUS_CODE: Record<SpanStatus, string> = {
  OK: SpanStatusCode.OK,
  ERROR: SpanStatusCode.ERROR,
  UNSET: SpanStatusCode.UNSET,
};

/**
 * The span as MLflow stores and serves it in `traces.json`: ids in base64, attribute values
 * JSON-encoded (the Python form, which both official SDKs read back), nanoseconds as exact bare
 * integers.
 */
export function spanToMlflowJson(traceId: string, span: SpanRecord): string {
  const attributes: Record<string, string> = {};
  for (const [key, value] of Object.entries(span.attributes)) attributes[key] = JSON.stringify(value ?? null);
  // Written in parts, the same text `stringifyJson` gives for the whole span: its replacer is
  // called for every key and string (~100 µs a trace on the ingest path); here only the events,
  // whose attributes may hold BigInts, go through it. The two nanosecond times are bare integers.
  const ids = JSON.stringify({
    trace_id: hexToBase64(traceId.slice(3)),
    span_id: hexToBase64(span.spanId),
    parent_span_id: span.parentSpanId === null ? null : hexToBase64(span.parentSpanId),
    name: span.name,
  });
  const status = JSON.stringify({ code: STATUS_CODE[span.status], message: span.statusMessage });
  const events = span.events.length === 0 ? '[]' : stringifyJson(span.events.map((e) => ({ name: e.name, time_unix_nano: e.timeNs, attributes: e.attributes })));
  return `${ids.slice(0, -1)},"start_time_unix_nano":${span.startNs},"end_time_unix_nano":${span.endNs ?? 'null'},"status":${status},"attributes":${JSON.stringify(attributes)},"events":${events}}`;
}

export function hexToBase64(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}
