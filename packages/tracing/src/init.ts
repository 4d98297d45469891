import { context, propagation, trace as otelTrace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOnSampler, BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { TRACER_NAME, TRACER_VERSION } from './constants.js';
import { MlflowRestExporter } from './exporters/mlflow-rest-exporter.js';
import { setAssessmentClient } from './assessment-api.js';
import { ThreadlineClient } from './threadline-client.js';
import { OtlpTraceExporter } from './exporters/otlp-trace-exporter.js';
import { TraceExportQueue, type ExportQueueOptions, type ExportStats } from './exporters/trace-export-queue.js';
import type { TraceExporter } from './exporters/trace-exporter.js';
import { getLogger, setLogger, type Logger } from './logger.js';
import type { HeadersProvider } from './rest-client.js';
import { getSpanProcessor, setActiveTracer } from './runtime.js';
import { TraceRedaction, type RedactOption } from './span-redaction.js';

/**
 * Options of `init`: the MLflow SDK's, plus the export queue's. All optional; each connection option
 * also comes from the environment variable named in its description.
 */
export interface InitOptions extends ExportQueueOptions {
  /** Tracking server URL. Also `MLFLOW_TRACKING_URI`. */
  trackingUri?: string;
  /** Experiment to log to. Also `MLFLOW_EXPERIMENT_ID`. Default `"0"`. */
  experimentId?: string;
  /** Experiment to log to, by name: resolved (created if missing) at the first export. Also `MLFLOW_EXPERIMENT_NAME`. */
  experimentName?: string;
  /** Basic auth. Also `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`. */
  trackingServerUsername?: string;
  trackingServerPassword?: string;
  /** Bearer token. Also `MLFLOW_TRACKING_TOKEN`. */
  trackingServerToken?: string;
  /** More headers on every request to the tracking server. */
  headers?: HeadersProvider;
  /** Timeout of each request to the tracking server, ms. Also `MLFLOW_HTTP_REQUEST_TIMEOUT`. Default 5000. */
  requestTimeoutMillis?: number;
  /** Traces exported concurrently. Default 8. */
  maxConcurrentTraces?: number;
  /**
   * Where traces go: `'mlflow'` (default: the MLflow REST API, as the MLflow SDK sends them),
   * `'otlp'` (OTLP/HTTP protobuf to `<trackingUri>/v1/traces`, same connection options), or any
   * `TraceExporter` (in memory for tests, ...).
   */
  exporter?: TraceExporter | 'mlflow' | 'otlp';
  /** The one logger of the SDK (same as `setLogger`). */
  logger?: Logger;
  /**
   * Redaction applied to traces before they are exported, off the application's path: every string
   * of span inputs, outputs, attributes, events and status messages, the trace's previews, and its
   * metadata and tags of the application's own keys. Never the user and session ids. Either rules
   * for the built-in redactor, `{ detectors?: ('email' | 'phone' | 'credit_card' | 'api_key' |
   * 'bearer_token')[], patterns?: RegExp[] }` (`{}`: every detector), or a hook
   * `(value, where) => string`; a hook that throws has the value exported as `[REDACTED]`. Default:
   * none (credentials under their own names are masked whatever this says). Rules that cannot be
   * applied (an unknown detector) stop the export: nothing leaves unredacted.
   */
  redact?: RedactOption;
  /**
   * Register the SDK's tracer provider, an AsyncLocalStorage context manager and the W3C
   * trace-context propagator as the global OpenTelemetry ones, each only if none is registered yet. Default true. Threadline's own spans
   * are recorded either way; the global provider decides where spans of other instrumentations go.
   */
  registerGlobal?: boolean;
  /** Environment to read instead of `process.env` (tests). */
  env?: Record<string, string | undefined>;
}

let provider: BasicTracerProvider | undefined;
let exitHookInstalled = false;

/**
 * Starts tracing: where traces go (the tracking server at `trackingUri`, experiment `experimentId`
 * or `experimentName`) and how the export queue behaves. Makes no network call and never throws; a
 * missing tracking URI is logged and traces are then kept out of the way (dropped). Calling it again
 * reconfigures the export; traces already queued are still flushed to the old destination.
 *
 * @example
 * init({ trackingUri: 'http://127.0.0.1:5000', experimentId: '0' });
 * // or, with MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME in the environment:
 * init();
 */
export function init(options: InitOptions = {}): void {
  if (options.logger !== undefined) setLogger(options.logger);
  try {
    let redaction: TraceRedaction | undefined;
    try {
      redaction = TraceRedaction.from(options.redact);
    } catch (error) {
      // Fail closed: without the redaction the operator asked for, nothing is exported.
      getLogger().error('init(): the redact option cannot be applied; traces are recorded but not exported.', error);
      getSpanProcessor().setExportQueue(undefined);
      return;
    }
    getSpanProcessor().setRedaction(redaction);
    const env = options.env ?? process.env;
    let exporter = typeof options.exporter === 'object' ? options.exporter : undefined;
    if (exporter === undefined) {
      const trackingUri = options.trackingUri ?? env.MLFLOW_TRACKING_URI;
      if (trackingUri === undefined || trackingUri === '') {
        getLogger().error('init(): no tracking URI (pass trackingUri or set MLFLOW_TRACKING_URI): traces are recorded but not exported.');
      } else if (!/^https?:\/\//.test(trackingUri)) {
        getLogger().error(`init(): tracking URI ${JSON.stringify(trackingUri)} is not an http(s):// URL: traces are recorded but not exported.`);
      } else {
        const timeout = options.requestTimeoutMillis ?? numberFrom(env.MLFLOW_HTTP_REQUEST_TIMEOUT);
        const experimentId = options.experimentId ?? emptyToUndefined(env.MLFLOW_EXPERIMENT_ID);
        const connection = {
          trackingUri,
          ...(experimentId !== undefined ? { experimentId } : { experimentName: options.experimentName ?? emptyToUndefined(env.MLFLOW_EXPERIMENT_NAME) }),
          trackingServerUsername: options.trackingServerUsername ?? env.MLFLOW_TRACKING_USERNAME,
          trackingServerPassword: options.trackingServerPassword ?? env.MLFLOW_TRACKING_PASSWORD,
          trackingServerToken: options.trackingServerToken ?? env.MLFLOW_TRACKING_TOKEN,
          ...(options.headers !== undefined && { headers: options.headers }),
          ...(timeout !== undefined && { requestTimeoutMillis: timeout }),
        };
        setAssessmentClient(
          new ThreadlineClient({
            trackingUri,
            ...(experimentId !== undefined && { experimentId }),
            ...(connection.trackingServerUsername !== undefined && { trackingServerUsername: connection.trackingServerUsername }),
            ...(connection.trackingServerPassword !== undefined && { trackingServerPassword: connection.trackingServerPassword }),
            ...(connection.trackingServerToken !== undefined && { trackingServerToken: connection.trackingServerToken }),
            ...(options.headers !== undefined && { headers: options.headers }),
            ...(timeout !== undefined && { requestTimeoutMillis: timeout }),
          }),
        );
        exporter =
          options.exporter === 'otlp'
            ? new OtlpTraceExporter(connection)
            : new MlflowRestExporter({ ...connection, ...(options.maxConcurrentTraces !== undefined && { maxConcurrentTraces: options.maxConcurrentTraces }) });
      }
    }
    const processor = getSpanProcessor();
    const previous = processor.getExportQueue();
    processor.setExportQueue(exporter === undefined ? undefined : new TraceExportQueue(exporter, options));
    // Traces already queued keep their destination; shutting down flushes them in the background.
    if (previous !== undefined) void previous.shutdown().catch(() => {});
    if (provider === undefined) {
      provider = new BasicTracerProvider({ sampler: new AlwaysOnSampler(), spanProcessors: [processor] });
      if (options.registerGlobal ?? true) registerGlobals(provider);
    }
    setActiveTracer(provider.getTracer(TRACER_NAME, TRACER_VERSION));
    installExitFlush();
  } catch (error) {
    getLogger().error('init() failed; tracing stays off.', error);
  }
}

function registerGlobals(tracerProvider: BasicTracerProvider): void {
  const manager = new AsyncLocalStorageContextManager();
  manager.enable();
  // Each returns false, and changes nothing, when the application registered its own already.
  if (!context.setGlobalContextManager(manager)) manager.disable();
  // W3C trace context (traceparent), so traces continue across services: traceContextHeaders()
  // injects it, the session middleware extracts it.
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (!otelTrace.setGlobalTracerProvider(tracerProvider)) {
    getLogger().debug('init(): a global TracerProvider is already registered; add getSpanProcessor() to it to export its spans with Threadline traces.');
  }
}

/**
 * Node exits without waiting for unref'd export timers: flush once when the event loop empties.
 * (Explicit `flushTraces()` before `process.exit()` is still needed, as with the MLflow SDK.)
 */
function installExitFlush(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  let flushed = false;
  process.on('beforeExit', () => {
    const queue = getSpanProcessor().getExportQueue();
    if (flushed || queue === undefined || queue.stats().queued + queue.stats().inFlight === 0) return;
    flushed = true;
    void queue.flush();
  });
}

function numberFrom(value: string | undefined): number | undefined {
  const n = value === undefined || value === '' ? NaN : Number(value);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}
function emptyToUndefined(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

/** Options of `flushTraces`. */
export interface FlushOptions {
  /** Give up waiting after this long (traces stay queued). Default: the queue's `flushTimeoutMillis` (10 s). */
  timeoutMillis?: number;
}

/**
 * Waits until every finished trace is exported (or given up), or until the timeout. Call it before
 * `process.exit()`. Resolves `true` when drained; never rejects.
 *
 * @example
 * await flushTraces({ timeoutMillis: 5000 });
 */
export async function flushTraces(options: FlushOptions = {}): Promise<boolean> {
  const queue = getSpanProcessor().getExportQueue();
  if (queue === undefined) return true;
  return options.timeoutMillis === undefined ? queue.flush() : queue.flush(options.timeoutMillis);
}

const EMPTY_STATS: ExportStats = { queued: 0, inFlight: 0, exported: 0, dropped: 0, failed: 0, retries: 0, consecutiveFailures: 0, maxQueueSize: 0 };

/**
 * Counters of the export queue: queued, in flight, exported, dropped (queue full), failed (given up),
 * retries.
 *
 * @example
 * if (getExportStats().dropped > 0) metrics.increment('traces.dropped');
 */
export function getExportStats(): ExportStats {
  return getSpanProcessor().getExportQueue()?.stats() ?? { ...EMPTY_STATS };
}
