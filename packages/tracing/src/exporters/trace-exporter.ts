import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { SpanJson, TraceInfoJson } from '@threadline/protocol';

/**
 * A finished trace handed to an exporter. Its JSON is built on first use, off the application's
 * call path, and then cached: a retried export sends exactly the same bytes.
 */
export interface FinishedTrace {
  /** `tr-<32 hex>`. */
  readonly traceId: string;
  /** The TraceInfoV3 of the trace, located in experiment `experimentId`. */
  traceInfo(experimentId: string): TraceInfoJson;
  /** The spans as `traces.json` carries them, root first. */
  spanJson(): SpanJson[];
  /** The OpenTelemetry spans of the trace, root first (what the OTLP exporter sends). */
  readonly spans: readonly ReadableSpan[];
}

/**
 * Why an export failed. `unreachable` (connection refused, DNS, reset), `timeout` (no reply in
 * time, or 408), `rate-limited` (429) and `server-error` (5xx) are transient and retried;
 * `unauthorized` (401, 403: the credentials), `rejected` (other 4xx: 400, 404, 413, 415, 422, ...),
 * `invalid-response` and `exporter-error` are not: the same request would fail the same way.
 */
export type ExportFailureKind = 'unreachable' | 'timeout' | 'rate-limited' | 'server-error' | 'unauthorized' | 'rejected' | 'invalid-response' | 'exporter-error';

const RETRYABLE: ReadonlySet<ExportFailureKind> = new Set(['unreachable', 'timeout', 'rate-limited', 'server-error']);

/** A failed request to the tracking server, as a value: what failed, and whether to try again. */
export class ThreadlineRequestError extends Error {
  readonly retryable: boolean;

  constructor(
    readonly kind: ExportFailureKind,
    message: string,
    readonly details: {
      /** HTTP status, when the server answered. */
      status?: number;
      /** MLflow `error_code` of the reply body, when there was one. */
      errorCode?: string;
      /** How long the server asked to wait (Retry-After), in milliseconds. */
      retryAfterMillis?: number;
      cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ThreadlineRequestError';
    this.retryable = RETRYABLE.has(kind);
  }

  get status(): number | undefined {
    return this.details.status;
  }
  get errorCode(): string | undefined {
    return this.details.errorCode;
  }
  get retryAfterMillis(): number | undefined {
    return this.details.retryAfterMillis;
  }
}

export interface ExportFailure {
  trace: FinishedTrace;
  error: ThreadlineRequestError;
}

export const ExportResultCode = { SUCCESS: 'SUCCESS', FAILED: 'FAILED' } as const;
export type ExportResultCode = (typeof ExportResultCode)[keyof typeof ExportResultCode];

/**
 * The outcome of one `export` call. An export never rejects: every failure is listed with the trace
 * it concerns, and the export queue retries the retryable ones.
 */
export interface ExportResult {
  code: ExportResultCode;
  /** Empty when `code` is SUCCESS. */
  failures: ExportFailure[];
}

/**
 * Where finished traces go: the seam between the SDK and a backend. Implementations: the MLflow REST
 * two-call flow (`MlflowRestExporter`), OTLP/HTTP protobuf (`OtlpTraceExporter`), memory
 * (`InMemoryTraceExporter`, for tests).
 *
 * @example
 * const exporter: TraceExporter = {
 *   async export(traces) { for (const t of traces) console.log(t.traceId); return { code: 'SUCCESS', failures: [] }; },
 *   async shutdown() {},
 * };
 */
export interface TraceExporter {
  /** Exports a batch. Must resolve (never reject) with the traces that failed, if any. */
  export(traces: readonly FinishedTrace[]): Promise<ExportResult>;
  /** Releases resources; later exports may fail. */
  shutdown(): Promise<void>;
}

/** An ExportResult for `failures` (SUCCESS when there are none). */
export function exportResult(failures: ExportFailure[]): ExportResult {
  return { code: failures.length === 0 ? ExportResultCode.SUCCESS : ExportResultCode.FAILED, failures };
}

/** Any error as a ThreadlineRequestError (an unexpected one is an `exporter-error`, not retried). */
export function asRequestError(error: unknown): ThreadlineRequestError {
  if (error instanceof ThreadlineRequestError) return error;
  return new ThreadlineRequestError('exporter-error', error instanceof Error ? error.message : String(error), { cause: error });
}
