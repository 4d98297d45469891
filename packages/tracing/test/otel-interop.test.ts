import { trace as otel, context, type Span as OtelSpan } from '@opentelemetry/api';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SpanType, trace, updateCurrentTrace, withSpan, type InMemoryTraceExporter } from '@threadline/tracing';
import { exportedTraces, initInMemory } from './support/sdk-setup.js';

let exporter: InMemoryTraceExporter;
beforeAll(() => {
  // The first init of the process registers the SDK's provider and context manager globally.
  exporter = initInMemory();
});
afterEach(async () => {
  await exportedTraces(exporter);
  exporter.reset();
});

const plain = () => otel.getTracer('some-instrumentation', '1.0.0');

describe('OpenTelemetry interop', () => {
  it('registered a global provider and an AsyncLocalStorage context manager', async () => {
    const span = plain().startSpan('probe');
    expect(span.isRecording()).toBe(true);
    span.end();
    const seen = await new Promise((resolve) => context.with(otel.setSpan(context.active(), span), () => setTimeout(() => resolve(otel.getActiveSpan()), 1)));
    expect(seen).toBe(span);
  });

  it('exports a plain OTel span started inside withSpan as its child, attributes as plain values', async () => {
    await withSpan(
      async () => {
        await plain().startActiveSpan('db.query', async (span: OtelSpan) => {
          span.setAttributes({ 'db.system': 'postgresql', 'db.rows': 3, 'db.cached': false, 'db.tables': ['a', 'b'] });
          await sleep(1);
          // A Threadline span inside the foreign one nests under it, in the same trace.
          trace(() => 'inner', { name: 'inner', spanType: SpanType.TOOL })();
          span.end();
        });
      },
      { name: 'handler', spanType: SpanType.CHAIN },
    );
    const [t] = await exportedTraces(exporter);
    const [handler, query, inner] = t!.spans;
    expect([handler!.name, query!.name, inner!.name]).toEqual(['handler', 'db.query', 'inner']);
    expect(query!.parent_span_id).toBe(handler!.span_id);
    expect(inner!.parent_span_id).toBe(query!.span_id);
    expect(query!.attributes).toEqual({
      'mlflow.traceRequestId': t!.info.trace_id,
      'db.system': 'postgresql',
      'db.rows': 3,
      'db.cached': false,
      'db.tables': ['a', 'b'],
    });
  });

  it('nests a Threadline span under a plain OTel root span; the trace takes the OTel trace id', async () => {
    const root = plain().startSpan('http.request');
    const traced = trace(async (q: string) => {
      updateCurrentTrace({ user: 'user-9' });
      return q.length;
    }, { name: 'answer' });
    await context.with(otel.setSpan(context.active(), root), () => traced('hello'));
    root.end();
    const [t] = await exportedTraces(exporter);
    expect(t!.info.trace_id).toBe(`tr-${root.spanContext().traceId}`);
    expect(t!.spans.map((s) => s.name)).toEqual(['http.request', 'answer']);
    expect(t!.spans[0]!.parent_span_id).toBe('');
    expect(t!.spans[1]!.parent_span_id).toBe(t!.spans[0]!.span_id);
    expect(t!.info.trace_metadata!['mlflow.trace.user']).toBe('user-9');
  });
});
