import type { AttributeValue, Attributes, SpanStatus } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { SpanAttributeKey, TraceMetadataKey } from '@threadline/protocol';
import { OtelAttributeKey } from './constants.js';
import { JsonSnapshot, type RecordedValue } from './json-text.js';
import { OnceLog } from './logger.js';
import { createRedactor, type RedactionRules } from './redaction.js';
import { isMaskable, isSecretName, MASK, maskedByName } from './secret-masking.js';
import type { SpanSideData } from './trace-record.js';

/** Which part of a trace a redacted string comes from. */
export type RedactionField = 'inputs' | 'outputs' | 'attributes' | 'events' | 'status' | 'request_preview' | 'response_preview' | 'metadata' | 'tags';

/** Where a string handed to a redaction hook comes from. */
export interface RedactionSite {
  field: RedactionField;
  /**
   * The attribute, metadata or tag key; for a string inside an object (inputs, outputs, an object
   * attribute), the name of the property that holds it.
   */
  key?: string;
  /** The span's name; absent for the trace's previews, metadata and tags. */
  spanName?: string;
}

/**
 * A redaction hook: returns `value` as it may be exported. Called at export, off the application's
 * path, once per string. A hook that throws (or returns something other than a string) has the
 * value it was given exported as `[REDACTED]`.
 */
export type RedactFunction = (value: string, where: RedactionSite) => string;

/**
 * What `init({ redact })` takes: rules for the built-in redactor (`{}` applies every built-in
 * detector), or a hook of one's own.
 */
export type RedactOption = RedactionRules | RedactFunction;

/**
 * Attribute keys whose values are never redacted: the trace's user and session (both conventions)
 * and the SDK's own `mlflow.*` keys (span type, model, provider, token usage...), which hold no
 * text from the application, except inputs and outputs, which do.
 */
function isRedactedAttribute(key: string): boolean {
  if (key === SpanAttributeKey.INPUTS || key === SpanAttributeKey.OUTPUTS) return true;
  return !key.startsWith('mlflow.') && key !== OtelAttributeKey.USER_ID && key !== OtelAttributeKey.SESSION_ID;
}

/** True for metadata and tag keys whose values are redacted: the application's own (not `mlflow.*`, so never the user or session). */
export function isRedactedTraceKey(key: string): boolean {
  return !key.startsWith('mlflow.') && key !== TraceMetadataKey.USER && key !== TraceMetadataKey.SESSION;
}

/**
 * The redaction a trace is exported with: a hook, made safe. It never throws: a failing hook masks
 * the value entirely (fail closed) and is reported once.
 */
export class TraceRedaction {
  private readonly once = new OnceLog();

  constructor(private readonly hook: RedactFunction) {}

  /**
   * The redaction of `init({ redact })`, or undefined when there is none. Throws on rules that
   * cannot be applied (see `createRedactor`): `init` then exports nothing rather than something
   * unredacted.
   */
  static from(option: RedactOption | undefined): TraceRedaction | undefined {
    if (option === undefined) return undefined;
    if (typeof option === 'function') return new TraceRedaction(option);
    const redact = createRedactor(option);
    return new TraceRedaction((value) => redact(value));
  }

  /** `value` as the hook returns it, or `[REDACTED]` when the hook fails. */
  text(value: string, where: RedactionSite): string {
    try {
      const result = this.hook(value, where);
      if (typeof result === 'string') return result;
      throw new TypeError(`the redaction hook returned ${result === null ? 'null' : typeof result}, not a string`);
    } catch (error) {
      this.once.log('redact-failed', 'error', `The redaction hook failed; every value it fails on is exported as ${MASK}.`, error);
      return MASK;
    }
  }

  /** A recorded value with every string in it redacted (object keys stay). */
  recorded(value: RecordedValue, where: RedactionSite): RecordedValue {
    if (typeof value === 'string') return this.text(value, where);
    if (!(value instanceof JsonSnapshot)) return value;
    const redaction = this;
    const redacted: unknown = JSON.parse(value.text, function (this: unknown, key: string, item: unknown) {
      if (typeof item !== 'string') return item;
      return redaction.text(item, key === '' || Array.isArray(this) ? where : { ...where, key });
    });
    return new JsonSnapshot(JSON.stringify(redacted));
  }

  attribute(value: AttributeValue, where: RedactionSite): AttributeValue {
    if (typeof value === 'string') return this.text(value, where);
    if (!Array.isArray(value)) return value;
    return (value as unknown[]).map((item) => (typeof item === 'string' ? this.text(item, where) : item)) as AttributeValue;
  }
}

/** What is exported of a span: its values with credentials masked and, when configured, redacted. */
export interface ExportedSpanValues {
  /** The OpenTelemetry span's own attributes. */
  readonly attributes: Attributes;
  readonly inputs: RecordedValue | undefined;
  readonly outputs: RecordedValue | undefined;
  readonly extraAttributes: ReadonlyMap<string, RecordedValue> | undefined;
  readonly events: TimedEvent[];
  readonly status: SpanStatus;
}

function holdsSecret(attributes: Attributes): boolean {
  for (const key in attributes) if (isMaskable(attributes[key]) && isSecretName(key)) return true;
  return false;
}

/**
 * Masks and redacts OTel attributes: values under secret names (any instrumentation's, e.g.
 * `http.request.header.authorization`) are masked; the rest pass the redaction, if any.
 */
function exportedAttributes(own: Attributes | undefined, redaction: TraceRedaction | undefined, field: RedactionField, spanName: string): Attributes {
  // The common case, nothing to change, allocates nothing: the attributes are copied once, into the span's JSON.
  if (own === undefined) return {};
  if (redaction === undefined && !holdsSecret(own)) return own;
  const attributes: Attributes = {};
  for (const key in own) {
    const value = own[key];
    if (value === undefined) continue;
    const masked = maskedByName(key, value);
    attributes[key] = redaction === undefined || masked === MASK || !isRedactedAttribute(key) ? masked : redaction.attribute(masked, { field, key, spanName });
  }
  return attributes;
}

/**
 * The values a span is exported with. Inputs, outputs and object attributes were masked when they
 * were recorded; here OpenTelemetry attributes and events are masked by name, and with a
 * redaction every string of inputs, outputs, attributes, events and the status message passes it.
 */
export function exportedSpanValues(span: ReadableSpan, side: SpanSideData | undefined, redaction: TraceRedaction | undefined): ExportedSpanValues {
  const spanName = span.name;
  let inputs = side?.recordedInputs;
  let outputs = side?.recordedOutputs;
  let extraAttributes = side?.extraAttributes;
  let status = span.status;
  if (redaction !== undefined) {
    if (inputs !== undefined) inputs = redaction.recorded(inputs, { field: 'inputs', spanName });
    if (outputs !== undefined) outputs = redaction.recorded(outputs, { field: 'outputs', spanName });
    if (extraAttributes !== undefined) {
      const redacted = new Map<string, RecordedValue>();
      for (const [key, value] of extraAttributes) redacted.set(key, isRedactedAttribute(key) ? redaction.recorded(value, { field: 'attributes', key, spanName }) : value);
      extraAttributes = redacted;
    }
    if (status.message) status = { ...status, message: redaction.text(status.message, { field: 'status', spanName }) };
  }
  return {
    attributes: exportedAttributes(span.attributes, redaction, 'attributes', spanName),
    inputs,
    outputs,
    extraAttributes,
    events: span.events.map((event) => {
      const attributes = exportedAttributes(event.attributes, redaction, 'events', spanName);
      return attributes === event.attributes ? event : { ...event, attributes };
    }),
    status,
  };
}
