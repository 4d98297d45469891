import { SpanAttributeKey, TRACE_ID_PREFIX, TraceMetadataKey } from '@threadline/protocol';
import { jsonValue } from '../../json.js';
import { anyNul } from '../../text.js';
import type { SpanBatchFields, SpanRecord, SpanStatus } from '../../trace-model.js';
import type { OtlpSpan } from './otlp-decode.js';
import {
  extraMetadataOf,
  firstIdValue,
  inputsOf,
  messageFormatOf,
  modelOf,
  outputsOf,
  providerOf,
  SESSION_KEYS,
  spanTypeOf,
  tokenUsageOf,
  traceTagsOf,
  USER_KEYS,
} from './otlp-mapping.js';

/** The spans of one trace in one request, in canonical form, with what they say of the trace. */
export interface OtlpTraceBatch {
  /** `tr-` + 32 hex. */
  traceId: string;
  spans: SpanRecord[];
  fields: SpanBatchFields;
}

export interface NormalisedOtlpRequest {
  traces: OtlpTraceBatch[];
  /** Spans refused for invalid ids, names or times; the rest are kept (OTLP partial success). */
  rejectedSpans: number;
  /** One line per kind of rejection, for `partial_success.error_message`. */
  rejections: string[];
}

const STATUS: Record<number, SpanStatus> = { 0: 'UNSET', 1: 'OK', 2: 'ERROR' };
const TRACE_HEX = /^[0-9a-f]{32}$/;
const SPAN_HEX = /^[0-9a-f]{16}$/;
/** MLflow's trace schema version; written so that a later StartTraceV3 repeating it agrees. */
const TRACE_SCHEMA_VERSION = '3';

/**
 * Turns decoded OTLP spans into canonical traces (§11 of otel-mapping.md): spans grouped by trace,
 * `mlflow.*` span attributes derived (type, token usage, model, provider, inputs, outputs), and
 * trace-level user, session, tags and metadata taken from the root span first, then from the
 * first span that has them, on the span or its resource.
 *
 * @example
 * const { traces, rejectedSpans } = normaliseOtlpSpans(decodeOtlpProtobuf(body));
 */
export function normaliseOtlpSpans(spans: readonly OtlpSpan[]): NormalisedOtlpRequest {
  const rejections = new Map<string, number>();
  const reject = (reason: string) => rejections.set(reason, (rejections.get(reason) ?? 0) + 1);
  const byTrace = new Map<string, { spans: Map<string, SpanRecord>; sources: OtlpSpan[] }>();

  for (const span of spans) {
    const problem = invalidity(span);
    if (problem !== null) {
      reject(problem);
      continue;
    }
    const traceId = TRACE_ID_PREFIX + span.traceId!;
    let entry = byTrace.get(traceId);
    if (!entry) byTrace.set(traceId, (entry = { spans: new Map(), sources: [] }));
    // A span repeated in one request (a client's retry merged in): the last copy wins.
    entry.spans.set(span.spanId!, toSpanRecord(traceId, span));
    entry.sources.push(span);
  }

  const traces: OtlpTraceBatch[] = [];
  for (const [traceId, entry] of byTrace) {
    const trace = { traceId, spans: [...entry.spans.values()], fields: traceFieldsOf(entry.sources) };
    // Refused whole, as on the MLflow API: a user, session, tag or name is never stored altered.
    if (holdsNul(trace)) for (let i = 0; i < trace.spans.length; i++) reject(NUL_REJECTION);
    else traces.push(trace);
  }
  const rejectedSpans = [...rejections.values()].reduce((a, b) => a + b, 0);
  return { traces, rejectedSpans, rejections: [...rejections].map(([reason, n]) => `${n} span(s): ${reason}`) };
}

const NUL_REJECTION = 'its trace has a user, session, tag, metadata value, span name or span type with a NUL character (U+0000)';

/** Whether text stored as a label (not as span content) holds a NUL character. */
function holdsNul(trace: OtlpTraceBatch): boolean {
  const { metadata, tags, name } = trace.fields;
  return anyNul([name, ...Object.keys(metadata), ...Object.values(metadata), ...Object.keys(tags), ...Object.values(tags), ...trace.spans.flatMap((s) => [s.name, s.type])]);
}

function invalidity(span: OtlpSpan): string | null {
  if (span.traceId === null || !TRACE_HEX.test(span.traceId) || /^0+$/.test(span.traceId)) {
    return 'traceId must be 16 bytes, not all zero';
  }
  if (span.spanId === null || !SPAN_HEX.test(span.spanId) || /^0+$/.test(span.spanId)) return 'spanId must be 8 bytes, not all zero';
  if (span.parentSpanId !== null && !SPAN_HEX.test(span.parentSpanId)) return 'parentSpanId must be empty or 8 bytes';
  if (span.name.trim() === '') return 'name must not be empty';
  if (span.startNs === null) return 'startTimeUnixNano is required';
  return null;
}

function toSpanRecord(traceId: string, span: OtlpSpan): SpanRecord {
  const attributes: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(span.attributes)) {
    // MLflow's own exporters JSON-encode every mlflow.* value (`"\"LLM\""`): decode them once.
    attributes[key] = key.startsWith('mlflow.') ? jsonValue(value) : value;
  }
  const type = spanTypeOf(attributes);
  attributes[SpanAttributeKey.TRACE_ID] = traceId;
  attributes[SpanAttributeKey.SPAN_TYPE] = type;
  const usage = attributes[SpanAttributeKey.TOKEN_USAGE] ?? tokenUsageOf(attributes, type);
  if (usage !== null) attributes[SpanAttributeKey.TOKEN_USAGE] = usage;
  const model = modelOf(attributes);
  if (model !== null && !(SpanAttributeKey.LLM_MODEL in attributes)) attributes[SpanAttributeKey.LLM_MODEL] = model;
  const provider = providerOf(attributes);
  if (provider !== null && !(SpanAttributeKey.LLM_PROVIDER in attributes)) attributes[SpanAttributeKey.LLM_PROVIDER] = provider;
  const format = messageFormatOf(attributes);
  if (format !== null && !(SpanAttributeKey.MESSAGE_FORMAT in attributes)) attributes[SpanAttributeKey.MESSAGE_FORMAT] = format;
  const inputs = inputsOf(attributes, span.events);
  if (inputs !== undefined) attributes[SpanAttributeKey.INPUTS] = inputs;
  const outputs = outputsOf(attributes, span.events);
  if (outputs !== undefined) attributes[SpanAttributeKey.OUTPUTS] = outputs;
  return {
    spanId: span.spanId!,
    parentSpanId: span.parentSpanId,
    ...(span.parentSpanId !== null && span.parentIsRemote ? { parentIsRemote: true } : {}),
    name: span.name,
    type,
    status: STATUS[span.statusCode] ?? 'UNSET',
    statusMessage: span.statusMessage,
    startNs: span.startNs!,
    endNs: span.endNs,
    attributes,
    events: span.events.map((e) => ({ name: e.name, timeNs: e.timeNs, attributes: e.attributes })),
  };
}

/**
 * Trace-level values from the spans of one trace: the root span is asked first, then the spans in
 * the order they came; for each value the first span that has it wins.
 */
function traceFieldsOf(spans: readonly OtlpSpan[]): SpanBatchFields {
  const ordered = [...spans.filter((s) => s.parentSpanId === null), ...spans.filter((s) => s.parentSpanId !== null)];
  const metadata: Record<string, string> = { [TraceMetadataKey.SCHEMA_VERSION]: TRACE_SCHEMA_VERSION };
  const tags: Record<string, string> = {};
  let user: string | null = null;
  let session: string | null = null;
  let name: string | null = null;
  for (const span of ordered) {
    user ??= firstIdValue(USER_KEYS, span.attributes, span.resource);
    session ??= firstIdValue(SESSION_KEYS, span.attributes, span.resource);
    name ??= firstIdValue(['langfuse.trace.name'], span.attributes, {});
    for (const [key, value] of Object.entries(traceTagsOf(span.attributes))) if (!(key in tags)) tags[key] = value;
    for (const [key, value] of Object.entries(extraMetadataOf(span.attributes, span.resource))) if (!(key in metadata)) metadata[key] = value;
  }
  if (user !== null) metadata[TraceMetadataKey.USER] = user;
  if (session !== null) metadata[TraceMetadataKey.SESSION] = session;
  return { metadata, tags, name };
}
