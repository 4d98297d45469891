import { SpanAttributeKey, TraceMetadataKey, TraceTagKey } from '@threadline/protocol';
import { MODEL_KEYS, PROVIDER_KEYS, SESSION_KEYS, USER_KEYS } from '../ingest/otlp/otlp-mapping.js';
import type { AssessmentChanges, AssessmentInput, AssessmentValue, SpanBatchFields, SpanRecord, TraceRecord } from '../trace-model.js';
import type { TextRedactor } from './text-redactor.js';

/**
 * What is redacted of each canonical record, and what never is. Content is: previews, span
 * inputs and outputs (every string inside them), attribute values, status messages, event
 * attributes (exception messages and stack traces), metadata and tag values, and assessments'
 * rationales, values, errors and metadata. Never: ids and names (trace, span, user, session,
 * assessment and its source, span and trace names), keys of attributes, metadata and tags, and the
 * values the server derives facts from (span type, token usage, model, provider, cost), so that
 * redaction changes what is stored, never how it is counted, priced or found.
 */

/** Metadata whose values are ids or numbers the server reads. User and session ids above all. */
const KEPT_METADATA: ReadonlySet<string> = new Set([
  TraceMetadataKey.USER,
  TraceMetadataKey.SESSION,
  TraceMetadataKey.SCHEMA_VERSION,
  TraceMetadataKey.TOKEN_USAGE,
  TraceMetadataKey.COST,
  TraceMetadataKey.SOURCE_RUN,
  TraceMetadataKey.MODEL_ID,
  TraceMetadataKey.SIZE_BYTES,
  TraceMetadataKey.SIZE_STATS,
  TraceMetadataKey.INFO_FINALIZED,
]);

/** MLflow's reserved tags: locations and the trace's name. */
const KEPT_TAGS: ReadonlySet<string> = new Set(Object.values(TraceTagKey));

/** Span attributes that identify or classify, or that usage and cost are read from. */
const KEPT_ATTRIBUTES: ReadonlySet<string> = new Set<string>([
  SpanAttributeKey.TRACE_ID,
  SpanAttributeKey.EXPERIMENT_ID,
  SpanAttributeKey.SPAN_TYPE,
  SpanAttributeKey.FUNCTION_NAME,
  SpanAttributeKey.TOKEN_USAGE,
  SpanAttributeKey.MESSAGE_FORMAT,
  SpanAttributeKey.LLM_COST,
  SpanAttributeKey.LLM_MODEL,
  SpanAttributeKey.LLM_PROVIDER,
  ...USER_KEYS,
  ...SESSION_KEYS,
  ...MODEL_KEYS,
  ...PROVIDER_KEYS,
  'openinference.span.kind',
  'gen_ai.operation.name',
  'traceloop.span.kind',
  'langfuse.observation.type',
  'langfuse.observation.cost_details',
  'ai.operationId',
]);
const KEPT_ATTRIBUTE_PREFIXES = ['gen_ai.usage.', 'llm.token_count.', 'llm.usage.', 'ai.usage.', 'llm.cost.'];

function keptAttribute(key: string): boolean {
  return KEPT_ATTRIBUTES.has(key) || KEPT_ATTRIBUTE_PREFIXES.some((p) => key.startsWith(p));
}

/** A map with its values redacted except those of `kept` keys; the same map when nothing changed. */
function redactValues<T>(map: Record<string, T>, kept: (key: string) => boolean, redact: (value: T) => T): Record<string, T> {
  let copy: Record<string, T> | undefined;
  for (const [key, value] of Object.entries(map)) {
    if (kept(key)) continue;
    const redacted = redact(value);
    // Defined, not assigned: a key such as `__proto__` stays a key.
    if (redacted !== value) Object.defineProperty((copy ??= { ...map }), key, { value: redacted, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? map;
}

const redactMap = (r: TextRedactor, map: Record<string, string>, kept: (key: string) => boolean) => redactValues(map, kept, (v) => r.text(v));
const redactAttributes = (r: TextRedactor, attributes: Record<string, unknown>) => redactValues(attributes, keptAttribute, (v) => r.value(v));

const keptMetadata = (key: string) => KEPT_METADATA.has(key);
const keptTag = (key: string) => KEPT_TAGS.has(key);
const nothingKept = () => false;

export function redactTraceRecord(r: TextRedactor, record: TraceRecord): TraceRecord {
  return {
    ...record,
    requestPreview: record.requestPreview === null ? null : r.text(record.requestPreview),
    responsePreview: record.responsePreview === null ? null : r.text(record.responsePreview),
    metadata: redactMap(r, record.metadata, keptMetadata),
    tags: redactMap(r, record.tags, keptTag),
  };
}

export function redactSpan(r: TextRedactor, span: SpanRecord): SpanRecord {
  return {
    ...span,
    statusMessage: r.text(span.statusMessage),
    attributes: redactAttributes(r, span.attributes),
    events: span.events.map((e) => ({ ...e, attributes: redactAttributes(r, e.attributes) })),
  };
}

/** What an OTLP batch says of its trace: metadata (less user and session) and tag values; the name is kept. */
export function redactBatchFields(r: TextRedactor, fields: SpanBatchFields): SpanBatchFields {
  return { ...fields, metadata: redactMap(r, fields.metadata, keptMetadata), tags: redactMap(r, fields.tags, keptTag) };
}

/** A tag set on its own (the tag endpoints). */
export function redactTagValue(r: TextRedactor, key: string, value: string): string {
  return keptTag(key) ? value : r.text(value);
}

/** Rationale, value, error text and metadata values; name, source and ids are kept. */
export function redactAssessment(r: TextRedactor, input: AssessmentInput): AssessmentInput {
  return {
    ...input,
    ...redactAssessmentValue(r, input),
    rationale: input.rationale === null ? null : r.text(input.rationale),
    metadata: redactMap(r, input.metadata, nothingKept),
  };
}

/** What an update changes, redacted as a new assessment is. */
export function redactAssessmentChanges(r: TextRedactor, changes: AssessmentChanges): AssessmentChanges {
  const out = { ...changes };
  if (changes.rationale !== undefined) out.rationale = changes.rationale === null ? null : r.text(changes.rationale);
  if (changes.metadata !== undefined) out.metadata = redactMap(r, changes.metadata, nothingKept);
  if (changes.value !== undefined) out.value = redactAssessmentValue(r, changes.value);
  return out;
}

function redactAssessmentValue(r: TextRedactor, { kind, value, error }: AssessmentValue): AssessmentValue {
  return {
    kind,
    value: r.value(value),
    error: error === null ? null : { ...error, errorMessage: error.errorMessage === null ? null : r.text(error.errorMessage), stackTrace: error.stackTrace === null ? null : r.text(error.stackTrace) },
  };
}
