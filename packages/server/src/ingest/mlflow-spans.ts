import { SpanAttributeKey } from '@threadline/protocol';
import { invalidParameter } from '../errors.js';
import { jsonValue } from '../json.js';
import { refuseNul } from '../text.js';
import type { SpanEventRecord, SpanRecord, SpanStatus } from '../trace-model.js';

/**
 * Reads the body of a `traces.json` upload (`{"spans": [...]}`) into canonical spans.
 * Accepts both official SDKs' forms: plain attribute values (TypeScript) and JSON-encoded ones
 * (Python). The span `trace_id` is ignored: the TypeScript SDK mangles it (wire protocol §3.8);
 * the trace is the one named by the upload path, and a `mlflow.traceRequestId` naming another
 * trace is refused.
 *
 * @example
 * parseMlflowSpans('tr-a0299ac374893dcb79f09b5a795aa0e8', parseJsonBody(body))
 */
export function parseMlflowSpans(traceId: string, body: unknown): SpanRecord[] {
  if (!isObject(body) || !Array.isArray(body.spans)) {
    throw invalidParameter(`The trace data must be a JSON object {"spans": [...]}.`);
  }
  return body.spans.map((span, index) => parseSpan(traceId, span, index));
}

function parseSpan(traceId: string, raw: unknown, index: number): SpanRecord {
  const where = `spans[${index}]`;
  if (!isObject(raw)) throw invalidParameter(`${where} must be an object.`);
  if (typeof raw.name !== 'string') throw invalidParameter(`${where}.name must be a string.`);
  refuseNul(raw.name, `${where}.name`);
  const spanId = parseSpanId(raw.span_id, `${where}.span_id`);
  if (spanId === null) throw invalidParameter(`${where}.span_id is required.`);
  const attributes = decodeAttributes(raw.attributes, where);
  const namedTrace = attributes[SpanAttributeKey.TRACE_ID];
  if (namedTrace !== undefined && namedTrace !== traceId) {
    throw invalidParameter(`${where} belongs to trace '${String(namedTrace)}', not to '${traceId}'.`);
  }
  const status = isObject(raw.status) ? raw.status : {};
  const type = attributes[SpanAttributeKey.SPAN_TYPE];
  return {
    spanId,
    parentSpanId: parseSpanId(raw.parent_span_id, `${where}.parent_span_id`),
    name: raw.name,
    type: typeof type === 'string' ? refuseNul(type, `${where}.attributes['${SpanAttributeKey.SPAN_TYPE}']`) : null,
    status: parseStatusCode(status.code, `${where}.status.code`),
    statusMessage: typeof status.message === 'string' ? status.message : '',
    startNs: parseNanos(raw.start_time_unix_nano, `${where}.start_time_unix_nano`) ?? missing(`${where}.start_time_unix_nano`),
    endNs: parseNanos(raw.end_time_unix_nano, `${where}.end_time_unix_nano`),
    attributes,
    events: parseEvents(raw.events, where),
  };
}

/** Span ids arrive as base64 of 8 bytes (both SDKs) or as 16 hex digits (OTLP JSON). */
export function parseSpanId(raw: unknown, where: string): string | null {
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw !== 'string') throw invalidParameter(`${where} must be a string.`);
  if (/^[0-9a-fA-F]{16}$/.test(raw)) return raw.toLowerCase();
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 8 || !/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) {
    throw invalidParameter(`${where} '${raw}' is not an 8-byte span id (base64 or 16 hex digits).`);
  }
  return bytes.toString('hex');
}

/** Nanosecond times arrive as exact decimal strings (see parseJsonBody) or as small numbers. */
export function parseNanos(raw: unknown, where: string): bigint | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw === 'string' && /^\d{1,20}$/.test(raw)) return BigInt(raw);
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0) return BigInt(raw);
  throw invalidParameter(`${where} must be a non-negative integer number of nanoseconds.`);
}

function parseStatusCode(raw: unknown, where: string): SpanStatus {
  switch (raw) {
    case undefined:
    case null:
    case 'STATUS_CODE_UNSET':
    case 'UNSET':
      return 'UNSET';
    case 'STATUS_CODE_OK':
    case 'OK':
      return 'OK';
    case 'STATUS_CODE_ERROR':
    case 'ERROR':
      return 'ERROR';
    default:
      throw invalidParameter(`${where} '${String(raw)}' is not one of STATUS_CODE_UNSET, STATUS_CODE_OK, STATUS_CODE_ERROR.`);
  }
}

/**
 * The Python SDK JSON-encodes every attribute value; the TypeScript SDK sends plain values.
 * `mlflow.traceRequestId` tells them apart (wire protocol §2.7): in the Python form it starts
 * with a quote. Without it, `mlflow.spanType` is asked the same question.
 */
function decodeAttributes(raw: unknown, where: string): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) throw invalidParameter(`${where}.attributes must be an object.`);
  const marker = raw[SpanAttributeKey.TRACE_ID] ?? raw[SpanAttributeKey.SPAN_TYPE];
  if (typeof marker !== 'string' || !marker.startsWith('"')) return { ...raw };
  const decoded: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) decoded[key] = jsonValue(value);
  return decoded;
}

function parseEvents(raw: unknown, where: string): SpanEventRecord[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalidParameter(`${where}.events must be a list.`);
  return raw.map((event, i) => {
    const at = `${where}.events[${i}]`;
    if (!isObject(event) || typeof event.name !== 'string') throw invalidParameter(`${at} must be an object with a string name.`);
    if (event.attributes !== undefined && event.attributes !== null && !isObject(event.attributes)) {
      throw invalidParameter(`${at}.attributes must be an object.`);
    }
    return {
      name: event.name,
      timeNs: parseNanos(event.time_unix_nano, `${at}.time_unix_nano`) ?? 0n,
      attributes: isObject(event.attributes) ? event.attributes : {},
    };
  });
}

function missing(what: string): never {
  throw invalidParameter(`${what} is required.`);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
