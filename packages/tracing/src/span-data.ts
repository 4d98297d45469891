import type { HrTime } from '@opentelemetry/api';
import { SpanAttributeKey, SpanStatusCode, SpanType, type NanoTime, type SpanJson } from '@threadline/protocol';
import type { Span, SpanEvent, SpanStatus } from './live-span.js';

function base64ToHex(value: string | null | undefined): string {
  return value ? Buffer.from(value, 'base64').toString('hex') : '';
}

function toNanos(value: NanoTime | null | undefined): bigint | undefined {
  if (value === null || value === undefined) return undefined;
  try {
    return BigInt(typeof value === 'number' ? Math.round(value) : value);
  } catch {
    return undefined;
  }
}

function toHrTime(nanos: bigint): HrTime {
  return [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)];
}

/** Attribute values arrive plain (TypeScript SDKs) or JSON-encoded (Python SDK): decode the latter. */
function decodeAttribute(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/**
 * A span read back from the tracking server (MLflow's `Span.fromJson`): ids in hex, times as
 * HrTime, attributes decoded whichever SDK wrote them.
 */
export class SpanData implements Span {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentId: string | null;
  readonly name: string;
  readonly startTime: HrTime;
  readonly endTime: HrTime | null;
  readonly status: SpanStatus;
  readonly attributes: Record<string, unknown>;
  readonly events: SpanEvent[];

  constructor(private readonly json: SpanJson) {
    const attributes: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(json.attributes ?? {})) attributes[key] = decodeAttribute(value);
    this.attributes = attributes;
    const requestId = attributes[SpanAttributeKey.TRACE_ID];
    this.traceId = typeof requestId === 'string' ? requestId : base64ToHex(json.trace_id);
    this.spanId = base64ToHex(json.span_id);
    this.parentId = json.parent_span_id ? base64ToHex(json.parent_span_id) : null;
    this.name = json.name;
    this.startTime = toHrTime(toNanos(json.start_time_unix_nano) ?? 0n);
    const end = toNanos(json.end_time_unix_nano);
    this.endTime = end === undefined ? null : toHrTime(end);
    const code = json.status?.code;
    this.status = {
      statusCode: code === SpanStatusCode.OK || code === SpanStatusCode.ERROR ? code : SpanStatusCode.UNSET,
      description: json.status?.message ?? '',
    };
    this.events = (json.events ?? []).map((event) => {
      const time = toNanos(event.time_unix_nano);
      return { name: event.name, attributes: (event.attributes ?? {}) as SpanEvent['attributes'], ...(time !== undefined && { timestampNs: time }) };
    });
  }

  get spanType(): string {
    const type = this.attributes[SpanAttributeKey.SPAN_TYPE];
    return typeof type === 'string' ? type : SpanType.UNKNOWN;
  }
  get inputs(): unknown {
    return this.attributes[SpanAttributeKey.INPUTS];
  }
  get outputs(): unknown {
    return this.attributes[SpanAttributeKey.OUTPUTS];
  }
  getAttribute(key: string): unknown {
    return this.attributes[key];
  }
  toJson(): SpanJson {
    return this.json;
  }
}
