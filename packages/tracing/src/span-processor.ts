import { trace, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span as SdkSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OtelAttributeKey } from './constants.js';
import type { TraceExportQueue } from './exporters/trace-export-queue.js';
import { OnceLog } from './logger.js';
import type { TraceRedaction } from './span-redaction.js';
import { recordOf, setRecord, TraceRecord } from './trace-record.js';
import { tracingContextOf } from './tracing-context.js';

/**
 * The OpenTelemetry `SpanProcessor` that assembles Threadline traces: every span it sees, from this
 * SDK or from any other OpenTelemetry instrumentation, joins the trace of its parent; a span without
 * a known parent starts a trace, taking the user, session, metadata and tags of the enclosing
 * `tracingContext`. When a trace's root span ends, the trace is frozen and handed to the export
 * queue. The processor keeps no index of traces: a trace lives exactly as long as its spans.
 *
 * `init()` adds it to the SDK's own tracer provider. An application that registers its own provider
 * adds it there too, so spans of its other instrumentations are exported with the traces:
 *
 * @example
 * const provider = new NodeTracerProvider({ spanProcessors: [getSpanProcessor(), myOtlpProcessor] });
 * provider.register();
 * init({ trackingUri: 'http://127.0.0.1:5000', experimentId: '0' });
 */
export class ThreadlineSpanProcessor implements SpanProcessor {
  private queue: TraceExportQueue | undefined;
  private redaction: TraceRedaction | undefined;
  private lastTraceId: string | undefined;
  private readonly once = new OnceLog();

  /** Sends finished traces to `queue` from now on (`undefined`: finished traces are discarded). */
  setExportQueue(queue: TraceExportQueue | undefined): void {
    this.queue = queue;
  }

  /** Redacts traces that start from now on with `redaction` when they are exported (`undefined`: none). */
  setRedaction(redaction: TraceRedaction | undefined): void {
    this.redaction = redaction;
  }

  getExportQueue(): TraceExportQueue | undefined {
    return this.queue;
  }

  /** `tr-` id of the trace that finished last; set as its root ends, before the export. */
  get lastActiveTraceId(): string | undefined {
    return this.lastTraceId;
  }

  onStart(span: SdkSpan, parentContext: Context): void {
    try {
      const parent = trace.getSpan(parentContext);
      const parentRecord = parent === undefined ? undefined : recordOf(parent);
      if (parentRecord !== undefined) {
        // A late child of a trace already exported is not part of any trace.
        if (parentRecord.frozen) return;
        parentRecord.spans.push(span);
        setRecord(span, parentRecord);
        return;
      }
      const values = tracingContextOf(parentContext);
      if (values !== undefined && !values.enabled) return;
      if (parent !== undefined && !parent.spanContext().isRemote && parent.isRecording()) {
        this.once.log(
          'foreign-parent',
          'warn',
          'A span started under an OpenTelemetry span that Threadline did not see (it comes from another TracerProvider): it starts a separate trace. Add getSpanProcessor() to that provider to keep such traces whole.',
        );
      }
      const record = new TraceRecord(span, values, this.redaction);
      setRecord(span, record);
      if (values?.user !== undefined) span.setAttribute(OtelAttributeKey.USER_ID, values.user);
      if (values?.sessionId !== undefined) span.setAttribute(OtelAttributeKey.SESSION_ID, values.sessionId);
    } catch (error) {
      this.once.log('on-start', 'error', 'Threadline could not record a span start; the span is not traced.', error);
    }
  }

  onEnd(span: ReadableSpan): void {
    const record = recordOf(span);
    if (record === undefined || record.root !== span) return;
    record.frozen = true;
    this.lastTraceId = record.traceId;
    try {
      this.queue?.enqueue(record);
    } catch (error) {
      this.once.log('on-end', 'error', 'Threadline could not queue a finished trace; it is dropped.', error);
    }
  }

  async forceFlush(): Promise<void> {
    await this.queue?.flush();
  }

  async shutdown(): Promise<void> {
    await this.queue?.shutdown();
  }
}
