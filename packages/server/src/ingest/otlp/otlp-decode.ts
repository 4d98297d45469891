import { parseJsonBody } from '../json-body.js';
import { otlpProtoTypes } from './otlp-proto.js';

/**
 * One span of an OTLP request, whichever encoding it came in: ids as lowercase hex (whatever
 * their length: validation is the normaliser's), nanoseconds exact, attribute values unwrapped
 * from `AnyValue` into plain JSON values.
 */
export interface OtlpSpan {
  /** Hex of the id bytes, or null when the id could not be read as hex or base64 at all. */
  traceId: string | null;
  spanId: string | null;
  /** Empty for a root span. */
  parentSpanId: string | null;
  /**
   * The span's `flags` say its parent lives in another process (bits 8 and 9, set by OpenTelemetry
   * exporters from the parent context): the span is that process's root of a trace begun elsewhere.
   */
  parentIsRemote: boolean;
  name: string;
  /** SpanKind number; 0 (unspecified) is to be read as INTERNAL. */
  kind: number;
  startNs: bigint | null;
  endNs: bigint | null;
  attributes: Record<string, unknown>;
  events: OtlpEvent[];
  /** StatusCode number: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  /** Attributes of the span's resource, shared by the spans of one ResourceSpans. */
  resource: Record<string, unknown>;
  scope: { name: string; version: string };
}

export interface OtlpEvent {
  name: string;
  timeNs: bigint;
  attributes: Record<string, unknown>;
}

/** A request that is not a readable ExportTraceServiceRequest: answered 400, never retried. */
export class OtlpDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OtlpDecodeError';
  }
}

/**
 * Decodes a binary protobuf ExportTraceServiceRequest.
 *
 * @example
 * const spans = decodeOtlpProtobuf(new ProtobufTraceSerializer().serializeRequest(readableSpans));
 */
export function decodeOtlpProtobuf(body: Uint8Array): OtlpSpan[] {
  const { ExportTraceServiceRequest } = otlpProtoTypes();
  let object: Record<string, unknown>;
  try {
    const message = ExportTraceServiceRequest.decode(body);
    object = ExportTraceServiceRequest.toObject(message, { longs: String, bytes: String, enums: Number, arrays: true, defaults: false });
  } catch (error) {
    throw new OtlpDecodeError(`The body is not a protobuf ExportTraceServiceRequest: ${(error as Error).message}.`);
  }
  // protobufjs gives bytes as base64; ids become hex like OTLP-JSON's.
  return spansOf(object, base64Id);
}

/**
 * Decodes an OTLP-JSON ExportTraceServiceRequest: lowerCamelCase keys, hex ids (base64 tolerated),
 * 64-bit integers as strings or numbers, enums as numbers (names tolerated), unknown keys ignored.
 *
 * @example
 * decodeOtlpJson('{"resourceSpans":[]}') // []
 */
export function decodeOtlpJson(text: string): OtlpSpan[] {
  let object: unknown;
  try {
    object = parseJsonBody(text);
  } catch (error) {
    throw new OtlpDecodeError((error as Error).message);
  }
  if (!isRecord(object)) throw new OtlpDecodeError('The body must be a JSON object (an ExportTraceServiceRequest).');
  return spansOf(object, lenientId);
}

type IdReader = (raw: unknown, where: string) => string | null;

function spansOf(request: Record<string, unknown>, readId: IdReader): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  for (const [r, resourceSpans] of list(request.resourceSpans, 'resourceSpans').entries()) {
    const rWhere = `resourceSpans[${r}]`;
    const resourceObject = isRecord(resourceSpans.resource) ? resourceSpans.resource : {};
    const resource = attributesOf(resourceObject.attributes, `${rWhere}.resource.attributes`);
    for (const [s, scopeSpans] of list(resourceSpans.scopeSpans, `${rWhere}.scopeSpans`).entries()) {
      const sWhere = `${rWhere}.scopeSpans[${s}]`;
      const scopeObject = isRecord(scopeSpans.scope) ? scopeSpans.scope : {};
      const scope = { name: stringOr(scopeObject.name, ''), version: stringOr(scopeObject.version, '') };
      for (const [i, span] of list(scopeSpans.spans, `${sWhere}.spans`).entries()) {
        const where = `${sWhere}.spans[${i}]`;
        const status = isRecord(span.status) ? span.status : {};
        spans.push({
          traceId: readId(span.traceId, `${where}.traceId`),
          spanId: readId(span.spanId, `${where}.spanId`),
          parentSpanId: readId(span.parentSpanId, `${where}.parentSpanId`),
          parentIsRemote: parentIsRemote(span.flags, `${where}.flags`),
          name: stringOr(span.name, ''),
          kind: enumNumber(span.kind, SPAN_KIND_NAMES, `${where}.kind`),
          startNs: nanos(span.startTimeUnixNano, `${where}.startTimeUnixNano`),
          endNs: nanos(span.endTimeUnixNano, `${where}.endTimeUnixNano`),
          attributes: attributesOf(span.attributes, `${where}.attributes`),
          events: list(span.events, `${where}.events`).map((event, e) => ({
            name: stringOr(event.name, ''),
            timeNs: nanos(event.timeUnixNano, `${where}.events[${e}].timeUnixNano`) ?? 0n,
            attributes: attributesOf(event.attributes, `${where}.events[${e}].attributes`),
          })),
          statusCode: enumNumber(status.code, STATUS_CODE_NAMES, `${where}.status.code`),
          statusMessage: stringOr(status.message, ''),
          resource,
          scope,
        });
      }
    }
  }
  return spans;
}

const SPAN_KIND_NAMES = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_CODE_NAMES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

/** A repeated field: absent is empty; anything but a list of objects is malformed. */
function list(raw: unknown, where: string): Record<string, unknown>[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new OtlpDecodeError(`${where} must be a list.`);
  for (const [i, item] of raw.entries()) if (!isRecord(item)) throw new OtlpDecodeError(`${where}[${i}] must be an object.`);
  return raw as Record<string, unknown>[];
}

/** `KeyValue` list to a plain object; later duplicates of a key win, as in the OTel SDKs. */
export function attributesOf(raw: unknown, where: string, depth = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [i, kv] of list(raw, where).entries()) {
    if (typeof kv.key !== 'string') throw new OtlpDecodeError(`${where}[${i}].key must be a string.`);
    out[kv.key] = anyValue(kv.value, `${where}[${i}].value`, depth);
  }
  return out;
}

/**
 * Deepest nesting of array and key-value list AnyValues accepted, in protobuf and JSON alike:
 * OpenTelemetry SDKs limit nothing here, but no instrumentation nests values this deep, and
 * deeper ones would overflow recursive code downstream.
 */
export const MAX_ANY_VALUE_DEPTH = 64;

/**
 * `AnyValue` to a JSON value. Members are tested by presence, never truthiness (`false` and `0`
 * are values). int64 beyond 2^53 stays a decimal string; a non-finite double its proto3 JSON name.
 */
function anyValue(raw: unknown, where: string, depth = 0): unknown {
  if (raw === undefined || raw === null) return null;
  if (!isRecord(raw)) throw new OtlpDecodeError(`${where} must be an AnyValue object.`);
  if (depth > MAX_ANY_VALUE_DEPTH) throw new OtlpDecodeError(`${where} nests array and key-value list values more than ${MAX_ANY_VALUE_DEPTH} levels deep.`);
  if ('stringValue' in raw) return stringOr(raw.stringValue, '');
  if ('boolValue' in raw) return raw.boolValue === true || raw.boolValue === 'true';
  if ('intValue' in raw) return int64(raw.intValue, where);
  if ('doubleValue' in raw) return double(raw.doubleValue);
  if ('arrayValue' in raw) {
    const array = isRecord(raw.arrayValue) ? raw.arrayValue.values : undefined;
    if (array === undefined || array === null) return [];
    if (!Array.isArray(array)) throw new OtlpDecodeError(`${where}.arrayValue.values must be a list.`);
    return array.map((v, i) => anyValue(v, `${where}.arrayValue.values[${i}]`, depth + 1));
  }
  if ('kvlistValue' in raw) return attributesOf(isRecord(raw.kvlistValue) ? raw.kvlistValue.values : undefined, `${where}.kvlistValue.values`, depth + 1);
  if ('bytesValue' in raw) return stringOr(raw.bytesValue, '');
  // string_value_strindex is for the profiling signal only: treated as absent.
  return null;
}

function int64(raw: unknown, where: string): number | string {
  const text = longText(raw);
  if (text === null || !/^-?\d+$/.test(text)) throw new OtlpDecodeError(`${where}.intValue must be an integer.`);
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

function double(raw: unknown): number | string {
  if (typeof raw === 'number') return raw;
  const n = Number(raw);
  // NaN and the infinities have no JSON number: kept as proto3 JSON names them.
  return typeof raw === 'string' && Number.isFinite(n) && raw.trim() !== '' ? n : String(raw);
}

/** int64/fixed64 as a decimal string, from a string, a number or a protobufjs Long `{low, high}`. */
function longText(raw: unknown): string | null {
  if (typeof raw === 'string') return raw.trim();
  if (typeof raw === 'number' && Number.isInteger(raw)) return BigInt(raw).toString();
  if (typeof raw === 'bigint') return raw.toString();
  if (isRecord(raw) && typeof raw.low === 'number' && typeof raw.high === 'number') {
    const value = (BigInt(raw.high >>> 0) << 32n) | BigInt(raw.low >>> 0);
    return (raw.unsigned === true ? value : BigInt.asIntN(64, value)).toString();
  }
  return null;
}

function nanos(raw: unknown, where: string): bigint | null {
  if (raw === undefined || raw === null || raw === '') return null;
  const text = longText(raw);
  if (text === null || !/^\d{1,20}$/.test(text)) throw new OtlpDecodeError(`${where} must be a non-negative integer of nanoseconds.`);
  return BigInt(text);
}

/** SpanFlags: bit 8 says whether bit 9 is known; bit 9 that the parent is remote. */
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

function parentIsRemote(raw: unknown, where: string): boolean {
  if (raw === undefined || raw === null) return false;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0) throw new OtlpDecodeError(`${where} must be an unsigned 32-bit integer; got ${JSON.stringify(raw)}.`);
  return (raw & (HAS_IS_REMOTE | IS_REMOTE)) === (HAS_IS_REMOTE | IS_REMOTE);
}

function enumNumber(raw: unknown, names: readonly string[], where: string): number {
  if (raw === undefined || raw === null) return 0;
  if (typeof raw === 'number' && Number.isInteger(raw)) return raw;
  if (typeof raw === 'string') {
    const index = names.indexOf(raw);
    if (index >= 0) return index;
    if (/^\d+$/.test(raw)) return Number(raw);
  }
  throw new OtlpDecodeError(`${where} must be an enum number; got ${JSON.stringify(raw)}.`);
}

function base64Id(raw: unknown): string | null {
  if (raw === undefined || raw === null || raw === '') return null;
  return typeof raw === 'string' ? Buffer.from(raw, 'base64').toString('hex') : null;
}

/** OTLP-JSON ids are hex; some non-compliant exporters send base64, so that is read too. */
function lenientId(raw: unknown, where: string): string | null {
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw !== 'string') throw new OtlpDecodeError(`${where} must be a hex string.`);
  if (/^[0-9a-fA-F]+$/.test(raw) && raw.length % 2 === 0) return raw.toLowerCase();
  if (/^[A-Za-z0-9+/]+={0,2}$/.test(raw) || /^[A-Za-z0-9_-]+$/.test(raw)) return Buffer.from(raw, 'base64').toString('hex');
  // Unreadable ids are kept so that the span is counted as rejected, not the request refused.
  return `invalid:${raw}`;
}

function stringOr(raw: unknown, fallback: string): string {
  return typeof raw === 'string' ? raw : fallback;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
