import { context, trace as otel } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { expect, it } from 'vitest';
import { getSpanProcessor, withSpan } from '@threadline/tracing';
import { exportedTraces, initInMemory } from './support/sdk-setup.js';

it("an app's own provider stays the global one; with getSpanProcessor() added, its spans join Threadline traces", async () => {
  // The application registered its OpenTelemetry SDK first, with Threadline's processor in it.
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  const appProvider = new BasicTracerProvider({ spanProcessors: [getSpanProcessor()] });
  otel.setGlobalTracerProvider(appProvider);

  const exporter = initInMemory();
  expect((otel.getTracerProvider() as unknown as { getDelegate(): unknown }).getDelegate()).toBe(appProvider);

  await withSpan(async () => {
    const span = otel.getTracer('app-instrumentation').startSpan('http.client');
    span.end();
  }, { name: 'handler' });
  const [t] = await exportedTraces(exporter);
  expect(t!.spans.map((s) => s.name)).toEqual(['handler', 'http.client']);
  expect(t!.spans[1]!.parent_span_id).toBe(t!.spans[0]!.span_id);
});
