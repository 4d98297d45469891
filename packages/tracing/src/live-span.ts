import { SpanStatusCode as OtelStatusCode, type Attributes, type AttributeValue, type HrTime } from '@opentelemetry/api';
import type { Span as SdkSpan } from '@opentelemetry/sdk-trace-base';
import { SpanAttributeKey, SpanStatusCode, SpanType, TRACE_ID_PREFIX, type SpanJson } from '@threadline/protocol';
import { NO_OP_SPAN_TRACE_ID } from './constants.js';
import { argumentsSnapshot, type ParamSlot } from './function-params.js';
import { recordedValue, snapshot, type JsonSnapshot, type RecordedValue } from './json-text.js';
import { maskedByName } from './secret-masking.js';
import { recordOf, setSideData, spanToJson, type SpanSideData } from './trace-record.js';

/** A span status as the MLflow SDK exposes it. */
export interface SpanStatus {
  statusCode: SpanStatusCode;
  description: string;
}

/** An event on a span (`exception` events carry `exception.type`, `.message`, `.stacktrace`). */
export interface SpanEvent {
  name: string;
  attributes?: Record<string, AttributeValue>;
  /** Nanoseconds since the epoch; now when omitted. */
  timestampNs?: number | bigint;
}

/** A finished or read-back span (MLflow's `Span`). */
export interface Span {
  /** `tr-<32 hex>`: the MLflow trace id. */
  readonly traceId: string;
  /** 16 hex digits. */
  readonly spanId: string;
  readonly parentId: string | null;
  readonly name: string;
  readonly spanType: string;
  readonly startTime: HrTime;
  readonly endTime: HrTime | null;
  readonly status: SpanStatus;
  readonly inputs: unknown;
  readonly outputs: unknown;
  readonly attributes: Record<string, unknown>;
  getAttribute(key: string): unknown;
  readonly events: SpanEvent[];
  /** The span as `traces.json` carries it. */
  toJson(): SpanJson;
}

/** Options of `LiveSpan.end`. */
export interface EndSpanOptions {
  outputs?: unknown;
  attributes?: Record<string, unknown>;
  status?: SpanStatus | SpanStatusCode | 'OK' | 'ERROR' | 'UNSET';
  endTimeNs?: number | bigint;
}

/** A span being recorded (MLflow's `LiveSpan`): what `withSpan` hands to its callback. */
export interface LiveSpan extends Span {
  setSpanType(spanType: SpanType | string): void;
  setInputs(inputs: unknown): void;
  setOutputs(outputs: unknown): void;
  setAttribute(key: string, value: unknown): void;
  setAttributes(attributes: Record<string, unknown>): void;
  addEvent(event: SpanEvent): void;
  recordException(error: unknown): void;
  setStatus(status: SpanStatus | SpanStatusCode | 'OK' | 'ERROR' | 'UNSET', description?: string): void;
  end(options?: EndSpanOptions): void;
}

const OTEL_CODE_OF: Record<string, OtelStatusCode> = {
  OK: OtelStatusCode.OK,
  ERROR: OtelStatusCode.ERROR,
  UNSET: OtelStatusCode.UNSET,
  [SpanStatusCode.OK]: OtelStatusCode.OK,
  [SpanStatusCode.ERROR]: OtelStatusCode.ERROR,
  [SpanStatusCode.UNSET]: OtelStatusCode.UNSET,
};
const MLFLOW_CODE_OF: Record<number, SpanStatusCode> = {
  [OtelStatusCode.OK]: SpanStatusCode.OK,
  [OtelStatusCode.ERROR]: SpanStatusCode.ERROR,
  [OtelStatusCode.UNSET]: SpanStatusCode.UNSET,
};

export function nanosToHrTime(nanos: number | bigint): HrTime {
  if (typeof nanos === 'bigint') return [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)];
  return [Math.floor(nanos / 1e9), nanos % 1e9];
}

function isPrimitiveAttribute(value: unknown): value is AttributeValue {
  const type = typeof value;
  if (type === 'string' || type === 'boolean') return true;
  if (type === 'number') return Number.isFinite(value);
  if (!Array.isArray(value)) return false;
  const first = value.find((v) => v != null);
  const itemType = typeof first;
  return (itemType === 'string' || itemType === 'number' || itemType === 'boolean' || first === undefined) && value.every((v) => v == null || typeof v === itemType);
}

/**
 * The SDK's span over an OpenTelemetry SDK span. Primitive attributes go onto the OTel span (other
 * processors see them); inputs, outputs and object attributes are recorded here as they are when
 * set (objects as their JSON text), so the trace shows them as they were even if the application
 * changes them afterwards.
 */
export class LiveSpanImpl implements LiveSpan, SpanSideData {
  recordedInputs: RecordedValue | undefined = undefined;
  recordedOutputs: RecordedValue | undefined = undefined;
  extraAttributes: Map<string, RecordedValue> | undefined = undefined;

  constructor(readonly otelSpan: SdkSpan) {
    setSideData(otelSpan, this);
  }

  /** Records a traced function's arguments, named by parameter, as they are now. */
  setArguments(slots: ParamSlot[] | undefined, args: readonly unknown[]): void {
    this.recordedInputs = argumentsSnapshot(slots, args);
  }

  /** Sets outputs already recorded (a generator's items, recorded one by one as they were yielded). */
  setRecordedOutputs(outputs: JsonSnapshot): void {
    this.recordedOutputs = outputs;
  }

  get hasInputs(): boolean {
    return this.recordedInputs !== undefined;
  }
  get hasOutputs(): boolean {
    return this.recordedOutputs !== undefined;
  }
  /** The inputs as recorded (a copy: changing it changes nothing in the trace). */
  get inputs(): unknown {
    return this.recordedInputs === undefined ? undefined : recordedValue(this.recordedInputs);
  }
  get outputs(): unknown {
    return this.recordedOutputs === undefined ? undefined : recordedValue(this.recordedOutputs);
  }
  get traceId(): string {
    return recordOf(this.otelSpan)?.traceId ?? TRACE_ID_PREFIX + this.otelSpan.spanContext().traceId;
  }
  get spanId(): string {
    return this.otelSpan.spanContext().spanId;
  }
  get parentId(): string | null {
    return recordOf(this.otelSpan)?.root === this.otelSpan ? null : (this.otelSpan.parentSpanContext?.spanId ?? null);
  }
  get name(): string {
    return this.otelSpan.name;
  }
  get spanType(): string {
    return (this.otelSpan.attributes[SpanAttributeKey.SPAN_TYPE] as string | undefined) ?? SpanType.UNKNOWN;
  }
  get startTime(): HrTime {
    return this.otelSpan.startTime;
  }
  get endTime(): HrTime | null {
    return this.otelSpan.ended ? this.otelSpan.endTime : null;
  }
  get status(): SpanStatus {
    const status = this.otelSpan.status;
    return { statusCode: MLFLOW_CODE_OF[status.code] ?? SpanStatusCode.UNSET, description: status.message ?? '' };
  }
  get attributes(): Record<string, unknown> {
    return (this.toJson().attributes ?? {}) as Record<string, unknown>;
  }
  getAttribute(key: string): unknown {
    if (key === SpanAttributeKey.INPUTS) return this.inputs;
    if (key === SpanAttributeKey.OUTPUTS) return this.outputs;
    const recorded = this.extraAttributes?.get(key);
    return recorded !== undefined ? recordedValue(recorded) : this.otelSpan.attributes[key];
  }
  get events(): SpanEvent[] {
    return this.otelSpan.events.map((e) => ({
      name: e.name,
      attributes: { ...e.attributes } as Record<string, AttributeValue>,
      timestampNs: BigInt(e.time[0]) * 1_000_000_000n + BigInt(e.time[1]),
    }));
  }
  toJson(): SpanJson {
    const record = recordOf(this.otelSpan);
    const traceId = this.traceId;
    const base64 = Buffer.from(this.otelSpan.spanContext().traceId, 'hex').toString('base64');
    return spanToJson(this.otelSpan, traceId, base64, record?.root === this.otelSpan);
  }

  setSpanType(spanType: SpanType | string): void {
    this.otelSpan.setAttribute(SpanAttributeKey.SPAN_TYPE, spanType);
  }
  setInputs(inputs: unknown): void {
    this.recordedInputs = snapshot(inputs);
  }
  setOutputs(outputs: unknown): void {
    this.recordedOutputs = snapshot(outputs);
  }
  setAttribute(key: string, value: unknown): void {
    if (key === SpanAttributeKey.INPUTS) return this.setInputs(value);
    if (key === SpanAttributeKey.OUTPUTS) return this.setOutputs(value);
    if (value === undefined) return;
    // A credential under its own name is masked before anything (another processor included) sees it.
    value = maskedByName(key, value);
    if (isPrimitiveAttribute(value)) {
      this.extraAttributes?.delete(key);
      this.otelSpan.setAttribute(key, value);
    } else {
      (this.extraAttributes ??= new Map()).set(key, snapshot(value)!);
    }
  }
  setAttributes(attributes: Record<string, unknown>): void {
    for (const key in attributes) this.setAttribute(key, attributes[key]);
  }
  addEvent(event: SpanEvent): void {
    const time = event.timestampNs === undefined ? undefined : nanosToHrTime(event.timestampNs);
    this.otelSpan.addEvent(event.name, (event.attributes ?? {}) as Attributes, time);
  }
  recordException(error: unknown): void {
    if (error instanceof Error) this.otelSpan.recordException(error);
    else this.otelSpan.recordException(String(error));
  }
  setStatus(status: SpanStatus | SpanStatusCode | 'OK' | 'ERROR' | 'UNSET', description?: string): void {
    const code = typeof status === 'string' ? status : status.statusCode;
    const message = typeof status === 'string' ? description : status.description;
    const otelCode = OTEL_CODE_OF[code] ?? OtelStatusCode.UNSET;
    this.otelSpan.setStatus(message ? { code: otelCode, message } : { code: otelCode });
  }
  /** Ends the span; a status other than ERROR becomes OK, as in the MLflow SDK. */
  end(options?: EndSpanOptions): void {
    if (options !== undefined) {
      if (options.outputs !== undefined) this.setOutputs(options.outputs);
      if (options.attributes !== undefined) this.setAttributes(options.attributes);
      if (options.status !== undefined) this.setStatus(options.status);
    }
    if (this.otelSpan.status.code !== OtelStatusCode.ERROR) this.otelSpan.setStatus({ code: OtelStatusCode.OK });
    this.otelSpan.end(options?.endTimeNs === undefined ? undefined : nanosToHrTime(options.endTimeNs));
  }
}

/** A span that records nothing: returned when tracing is off or not initialised. */
export class NoOpSpan implements LiveSpan {
  readonly traceId = NO_OP_SPAN_TRACE_ID;
  readonly spanId = '';
  readonly parentId = null;
  readonly name = '';
  readonly spanType = SpanType.UNKNOWN;
  readonly startTime: HrTime = [0, 0];
  readonly endTime = null;
  readonly status: SpanStatus = { statusCode: SpanStatusCode.UNSET, description: '' };
  readonly inputs = undefined;
  readonly outputs = undefined;
  readonly attributes: Record<string, unknown> = {};
  readonly events: SpanEvent[] = [];
  getAttribute(): unknown {
    return undefined;
  }
  toJson(): SpanJson {
    return { trace_id: '', span_id: '', parent_span_id: '', name: '', start_time_unix_nano: 0n, end_time_unix_nano: null, status: { code: SpanStatusCode.UNSET, message: '' }, attributes: {}, events: [] };
  }
  setSpanType(): void {}
  setInputs(): void {}
  setOutputs(): void {}
  setAttribute(): void {}
  setAttributes(): void {}
  addEvent(): void {}
  recordException(): void {}
  setStatus(): void {}
  end(): void {}
}
