import type { Tracer } from '@opentelemetry/api';
import { ThreadlineSpanProcessor } from './span-processor.js';

/**
 * The SDK's process-wide state, kept apart from the API functions: the one span processor (stable
 * for the life of the process, so an application can add it to its own provider before `init`) and
 * the tracer `init()` created. Before `init()` there is no tracer and traced functions run untraced.
 */
let processor: ThreadlineSpanProcessor | undefined;
let tracer: Tracer | undefined;

/**
 * The span processor that assembles and exports Threadline traces. Add it to your own
 * TracerProvider when your application registers one, so spans of other OpenTelemetry
 * instrumentations are exported inside Threadline traces.
 *
 * @example
 * const sdk = new NodeSDK({ spanProcessors: [getSpanProcessor()] });
 */
export function getSpanProcessor(): ThreadlineSpanProcessor {
  return (processor ??= new ThreadlineSpanProcessor());
}

/** The tracer of Threadline's API, or undefined before `init()`. */
export function activeTracer(): Tracer | undefined {
  return tracer;
}

export function setActiveTracer(value: Tracer | undefined): void {
  tracer = value;
}
