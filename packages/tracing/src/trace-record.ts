import { SpanStatusCode as OtelStatusCode, type HrTime } from '@opentelemetry/api';
import type { ReadableSpan, Span as SdkSpan } from '@opentelemetry/sdk-trace-base';
import {
  requestPreview,
  responsePreview,
  SpanAttributeKey,
  SpanStatusCode,
  TRACE_ID_PREFIX,
  TRACE_SCHEMA_VERSION,
  TraceLocationType,
  TraceMetadataKey,
  TraceState,
  truncatePreview,
  type SpanEventJson,
  type SpanJson,
  type TokenUsage,
  type TraceInfoJson,
} from '@threadline/protocol';
import type { FinishedTrace } from './exporters/trace-exporter.js';
import { recordedValue, type RecordedValue } from './json-text.js';
import { maskedByName } from './secret-masking.js';
import { exportedSpanValues, isRedactedTraceKey, type ExportedSpanValues, type RedactionField, type TraceRedaction } from './span-redaction.js';
import type { TracingContextValues } from './tracing-context.js';

/**
 * What the SDK's own API attaches to an OpenTelemetry span besides its attributes: inputs, outputs
 * and non-primitive attributes, recorded when they were set (objects as JSON text, so later changes
 * by the application do not reach the trace). Implemented by LiveSpan.
 */
export interface SpanSideData {
  /** The span's inputs, or `undefined` when none were set. */
  readonly recordedInputs: RecordedValue | undefined;
  readonly recordedOutputs: RecordedValue | undefined;
  /** Attributes whose values are objects or arrays of objects (OTel attributes cannot hold them). */
  readonly extraAttributes: ReadonlyMap<string, RecordedValue> | undefined;
}

const SIDE_DATA = Symbol('threadline.span-side-data');
const RECORD = Symbol('threadline.trace-record');

type Tagged = { [SIDE_DATA]?: SpanSideData; [RECORD]?: TraceRecord };

/** Attaches the SDK's side data to an OTel span (set once, right after the span starts). */
export function setSideData(span: object, data: SpanSideData): void {
  (span as Tagged)[SIDE_DATA] = data;
}
export function sideDataOf(span: object): SpanSideData | undefined {
  return (span as Tagged)[SIDE_DATA];
}
/** The trace a span belongs to, if the Threadline span processor saw it start. */
export function recordOf(span: object): TraceRecord | undefined {
  return (span as Tagged)[RECORD];
}
export function setRecord(span: object, record: TraceRecord): void {
  (span as Tagged)[RECORD] = record;
}

/** Nanoseconds since the epoch of an OTel time, exactly. */
export function hrTimeToNanos(time: HrTime): bigint {
  return BigInt(time[0]) * 1_000_000_000n + BigInt(time[1]);
}
/** Milliseconds since the epoch, rounded down (as the MLflow SDK computes request_time). */
export function hrTimeToMillis(time: HrTime): number {
  return time[0] * 1000 + Math.floor(time[1] / 1e6);
}

const STATUS_CODE_NAME: Record<number, SpanStatusCode> = {
  [OtelStatusCode.UNSET]: SpanStatusCode.UNSET,
  [OtelStatusCode.OK]: SpanStatusCode.OK,
  [OtelStatusCode.ERROR]: SpanStatusCode.ERROR,
};

/**
 * A span as MLflow's `traces.json` carries it: ids in base64 of their bytes (the trace id of the
 * 16 OTel bytes, correctly: not the MLflow SDK's mangled one), the root's parent `""`, nanosecond
 * times as BigInts (written as bare integers), attribute values as plain JSON values. `values` are
 * what is exported of the span (by default masked, not redacted: what the application reads back).
 */
export function spanToJson(span: ReadableSpan, traceId: string, traceIdBase64: string, isRoot: boolean, values: ExportedSpanValues = exportedSpanValues(span, sideDataOf(span), undefined)): SpanJson {
  const attributes: Record<string, unknown> = { [SpanAttributeKey.TRACE_ID]: traceId };
  const own = values.attributes;
  for (const key in own) attributes[key] = own[key];
  if (values.inputs !== undefined) attributes[SpanAttributeKey.INPUTS] = recordedValue(values.inputs);
  if (values.extraAttributes !== undefined) {
    for (const [key, value] of values.extraAttributes) attributes[key] = recordedValue(value);
  }
  if (values.outputs !== undefined) attributes[SpanAttributeKey.OUTPUTS] = recordedValue(values.outputs);
  const events: SpanEventJson[] = values.events.map((event) => ({
    name: event.name,
    time_unix_nano: hrTimeToNanos(event.time),
    attributes: { ...event.attributes },
  }));
  const parentSpanId = span.parentSpanContext?.spanId;
  const ended = span.endTime[0] !== 0 || span.endTime[1] !== 0;
  return {
    trace_id: traceIdBase64,
    span_id: Buffer.from(span.spanContext().spanId, 'hex').toString('base64'),
    parent_span_id: isRoot || parentSpanId === undefined ? '' : Buffer.from(parentSpanId, 'hex').toString('base64'),
    name: span.name,
    start_time_unix_nano: hrTimeToNanos(span.startTime),
    end_time_unix_nano: ended ? hrTimeToNanos(span.endTime) : null,
    status: { code: STATUS_CODE_NAME[values.status.code] ?? SpanStatusCode.UNSET, message: values.status.message ?? '' },
    attributes,
    events,
  };
}

/** What a finished trace exports of one of its spans (masked, and redacted as the trace's redaction says). */
export function exportedValuesOf(trace: FinishedTrace, span: ReadableSpan): ExportedSpanValues {
  return trace instanceof TraceRecord ? trace.exportedValues(span) : exportedSpanValues(span, sideDataOf(span), undefined);
}

/**
 * One trace: created when its root span starts, filled by its spans, frozen when the root ends and
 * then handed to the export queue. Everything costly (JSON, previews, token sums) is computed
 * lazily, once, when an exporter asks for it.
 */
export class TraceRecord {
  /** `tr-` + the 32 hex digits of the OTel trace id. */
  readonly traceId: string;
  /** Spans in creation order, root first. */
  readonly spans: SdkSpan[];
  /** Set when the root span ends: metadata is final from then on. */
  frozen = false;
  /** Values set through `updateCurrentTrace`, over those of the tracing context. */
  metadata: Record<string, string> | undefined;
  tags: Record<string, string> | undefined;
  clientRequestId: string | undefined;
  requestPreview: string | undefined;
  responsePreview: string | undefined;
  private spanJsonCache: SpanJson[] | undefined;
  private infoCache: TraceInfoJson | undefined;
  private readonly valuesCache = new Map<ReadableSpan, ExportedSpanValues>();

  constructor(
    readonly root: SdkSpan,
    private readonly context: TracingContextValues | undefined,
    /** The redaction configured when the trace started, applied when it is exported. */
    readonly redaction?: TraceRedaction,
  ) {
    this.traceId = TRACE_ID_PREFIX + root.spanContext().traceId;
    this.spans = [root];
  }

  get otelTraceId(): string {
    return this.root.spanContext().traceId;
  }

  /** What is exported of one of the trace's spans: masked and redacted. Computed once per span. */
  exportedValues(span: ReadableSpan): ExportedSpanValues {
    let values = this.valuesCache.get(span);
    if (values === undefined) this.valuesCache.set(span, (values = exportedSpanValues(span, sideDataOf(span), this.redaction)));
    return values;
  }

  /** The spans as `traces.json` carries them. Computed once. */
  spanJson(): SpanJson[] {
    if (this.spanJsonCache === undefined) {
      const traceIdBase64 = Buffer.from(this.otelTraceId, 'hex').toString('base64');
      this.spanJsonCache = this.spans.map((span) => spanToJson(span, this.traceId, traceIdBase64, span === this.root, this.exportedValues(span)));
    }
    return this.spanJsonCache;
  }

  /** A trace-level value as exported: masked by key, then redacted (previews always; metadata and tags of the application's own keys). */
  private exportedTraceValue(field: RedactionField, key: string | undefined, value: string): string {
    if (key !== undefined) {
      const masked = maskedByName(key, value);
      if (masked !== value || !isRedactedTraceKey(key)) return masked;
    }
    return this.redaction === undefined ? value : this.redaction.text(value, key === undefined ? { field } : { field, key });
  }

  private exportedEntries(field: RedactionField, entries: Record<string, string>): Record<string, string> {
    for (const key in entries) entries[key] = this.exportedTraceValue(field, key, entries[key]!);
    return entries;
  }

  /** The TraceInfoV3 the MLflow SDK would send for this trace, in experiment `experimentId`. */
  traceInfo(experimentId: string): TraceInfoJson {
    const info = (this.infoCache ??= this.buildInfo());
    if (info.trace_location.mlflow_experiment?.experiment_id === experimentId) return info;
    return { ...info, trace_location: { type: TraceLocationType.MLFLOW_EXPERIMENT, mlflow_experiment: { experiment_id: experimentId } } };
  }

  private buildInfo(): TraceInfoJson {
    const root = this.root;
    const metadata: Record<string, string> = { [TraceMetadataKey.SCHEMA_VERSION]: TRACE_SCHEMA_VERSION };
    const ctx = this.context;
    if (ctx !== undefined) {
      Object.assign(metadata, ctx.metadata);
      if (ctx.sessionId !== undefined) metadata[TraceMetadataKey.SESSION] = ctx.sessionId;
      if (ctx.user !== undefined) metadata[TraceMetadataKey.USER] = ctx.user;
    }
    Object.assign(metadata, this.metadata);
    this.exportedEntries('metadata', metadata);
    const spans = this.spanJson();
    const usage = sumTokenUsage(spans);
    if (usage !== undefined) metadata[TraceMetadataKey.TOKEN_USAGE] = JSON.stringify(usage);
    const rootJson = spans[0]!;
    // The SDK's own root span holds plain values (previewed by shape); another instrumentation's may
    // hold JSON strings (previewed as they are). Derived previews come from the exported (redacted)
    // values; previews the application set are redacted here.
    const side = sideDataOf(root);
    const rootAttributes = rootJson.attributes ?? {};
    const own = (field: RedactionField, value: string | undefined) => (value === undefined ? undefined : this.exportedTraceValue(field, undefined, value));
    const request = own('request_preview', this.requestPreview) ?? (side?.recordedInputs !== undefined ? requestPreview(rootAttributes[SpanAttributeKey.INPUTS]) : previewOfAttribute(rootJson, SpanAttributeKey.INPUTS));
    const response = own('response_preview', this.responsePreview) ?? (side?.recordedOutputs !== undefined ? responsePreview(rootAttributes[SpanAttributeKey.OUTPUTS]) : previewOfAttribute(rootJson, SpanAttributeKey.OUTPUTS));
    metadata[TraceMetadataKey.INPUTS] = request;
    metadata[TraceMetadataKey.OUTPUTS] = response;
    const startMillis = hrTimeToMillis(root.startTime);
    const ended = root.endTime[0] !== 0 || root.endTime[1] !== 0;
    const durationMillis = ended ? Math.max(0, hrTimeToMillis(root.endTime) - startMillis) : 0;
    const info: TraceInfoJson = {
      trace_id: this.traceId,
      trace_location: { type: TraceLocationType.MLFLOW_EXPERIMENT, mlflow_experiment: { experiment_id: '' } },
      request_preview: request,
      response_preview: response,
      request_time: new Date(startMillis).toISOString(),
      execution_duration: `${durationMillis / 1000}s`,
      state: root.status.code === OtelStatusCode.ERROR ? TraceState.ERROR : TraceState.OK,
      trace_metadata: metadata,
      tags: this.exportedEntries('tags', { ...this.context?.tags, ...this.tags }),
      assessments: [],
    };
    if (this.clientRequestId === undefined) return info;
    // Field order as the MLflow SDK writes it: client_request_id right after trace_id.
    const { trace_id, ...rest } = info;
    return { trace_id, client_request_id: this.clientRequestId, ...rest };
  }
}

function previewOfAttribute(span: SpanJson, key: string): string {
  const value = span.attributes?.[key];
  if (value === undefined) return '';
  return truncatePreview(typeof value === 'string' ? value : JSON.stringify(value));
}

function tokenUsageOf(span: SpanJson): TokenUsage | undefined {
  let value = span.attributes?.[SpanAttributeKey.TOKEN_USAGE];
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const usage = value as Partial<TokenUsage>;
  const input = Number(usage.input_tokens ?? 0);
  const output = Number(usage.output_tokens ?? 0);
  const total = Number(usage.total_tokens ?? input + output);
  return Number.isFinite(input + output + total) ? { input_tokens: input, output_tokens: output, total_tokens: total } : undefined;
}

/**
 * Token usage of a trace: the sum over spans with usage, skipping spans below one that already has
 * usage (an LLM wrapper span and the client call inside it report the same tokens).
 */
export function sumTokenUsage(spans: readonly SpanJson[]): TokenUsage | undefined {
  const usageById = new Map<string, TokenUsage | undefined>();
  const parentById = new Map<string, string>();
  for (const span of spans) {
    usageById.set(span.span_id, tokenUsageOf(span));
    if (span.parent_span_id) parentById.set(span.span_id, span.parent_span_id);
  }
  let total: TokenUsage | undefined;
  for (const span of spans) {
    const usage = usageById.get(span.span_id);
    if (usage === undefined) continue;
    let ancestor = parentById.get(span.span_id);
    let covered = false;
    for (let hops = 0; ancestor !== undefined && hops < spans.length; hops++) {
      if (usageById.get(ancestor) !== undefined) {
        covered = true;
        break;
      }
      ancestor = parentById.get(ancestor);
    }
    if (covered) continue;
    total ??= { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
    total.input_tokens += usage.input_tokens;
    total.output_tokens += usage.output_tokens;
    total.total_tokens += usage.total_tokens;
  }
  return total;
}
