import { TRACE_DATA_FILE_NAME, TraceTagKey, type TraceInfoResponse } from '@threadline/protocol';
import { spansJsonText } from '../json-text.js';
import { RestClient, type TrackingServerOptions } from '../rest-client.js';
import { ExperimentIdResolver, type ExperimentOptions } from './experiment-id.js';
import { OtlpTraceExporter } from './otlp-trace-exporter.js';
import { asRequestError, exportResult, ThreadlineRequestError, type ExportFailure, type ExportResult, type FinishedTrace, type TraceExporter } from './trace-exporter.js';

export interface MlflowRestExporterOptions extends TrackingServerOptions, ExperimentOptions {
  /** Traces exported at the same time (each is two requests in order). Default 8. */
  maxConcurrentTraces?: number;
}

/**
 * Exports each trace the way the MLflow TypeScript SDK does, so any MLflow-compatible server takes
 * it: `POST /api/3.0/mlflow/traces` with the trace info, then `PUT` of `traces.json` under the
 * artifact location the reply names. Several traces are in flight at once, up to a bound. A trace
 * whose info was logged but whose spans failed resumes at the upload when retried.
 *
 * A trace continued from a caller's `traceparent` (its root's parent is remote) is not this
 * process's to describe: MLflow keeps one trace info per trace id, the caller's. Its spans go to
 * the same server over OTLP (`/v1/traces`), as MLflow's own SDK sends a remote trace's spans, and
 * join the caller's trace there, whichever of the two arrives first.
 *
 * @example
 * const exporter = new MlflowRestExporter({ trackingUri: 'http://127.0.0.1:5000', experimentId: '0' });
 * init({ exporter });
 */
export class MlflowRestExporter implements TraceExporter {
  private readonly rest: RestClient;
  private readonly maxConcurrent: number;
  private readonly experimentId: ExperimentIdResolver;
  private readonly uploadPaths = new WeakMap<FinishedTrace, string>();

  private readonly continuations: OtlpTraceExporter;

  constructor(private readonly options: MlflowRestExporterOptions) {
    this.rest = new RestClient(options);
    this.maxConcurrent = Math.max(1, options.maxConcurrentTraces ?? 8);
    this.experimentId = new ExperimentIdResolver(this.rest, options);
    this.continuations = new OtlpTraceExporter(options);
  }

  async export(traces: readonly FinishedTrace[]): Promise<ExportResult> {
    const continued = traces.filter(isContinuation);
    if (continued.length === 0) return this.exportOwn(traces);
    const own = traces.filter((trace) => !isContinuation(trace));
    const results = await Promise.all([this.continuations.export(continued), ...(own.length > 0 ? [this.exportOwn(own)] : [])]);
    return exportResult(results.flatMap((r) => r.failures));
  }

  private async exportOwn(traces: readonly FinishedTrace[]): Promise<ExportResult> {
    const experimentId = await this.experimentId.forBatch(traces);
    if (typeof experimentId !== 'string') return experimentId;
    const failures: ExportFailure[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < traces.length) {
        const trace = traces[next++]!;
        try {
          await this.exportOne(trace, experimentId);
        } catch (error) {
          failures.push({ trace, error: asRequestError(error) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.maxConcurrent, traces.length) }, worker));
    return exportResult(failures);
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  private async exportOne(trace: FinishedTrace, experimentId: string): Promise<void> {
    let path = this.uploadPaths.get(trace);
    if (path === undefined) {
      const reply = await this.rest.request<TraceInfoResponse>('POST', '/api/3.0/mlflow/traces', JSON.stringify({ trace: { trace_info: trace.traceInfo(experimentId) } }));
      path = `/api/2.0/mlflow-artifacts/artifacts/${artifactPath(reply?.trace?.trace_info?.tags?.[TraceTagKey.ARTIFACT_LOCATION])}/${TRACE_DATA_FILE_NAME}`;
      this.uploadPaths.set(trace, path);
    }
    await this.rest.request('PUT', path, spansJsonText(trace.spanJson()));
  }

}

/** A trace whose root's parent lives in another process: the rest of the trace is the caller's. */
function isContinuation(trace: FinishedTrace): boolean {
  return trace.spans[0]?.parentSpanContext?.isRemote === true;
}

/** The path under `/api/2.0/mlflow-artifacts/artifacts/` of an `mlflow-artifacts:` location. */
function artifactPath(location: string | undefined): string {
  if (location === undefined || !location.startsWith('mlflow-artifacts:')) {
    throw new ThreadlineRequestError('invalid-response', `The create-trace reply has no ${TraceTagKey.ARTIFACT_LOCATION} tag with an mlflow-artifacts: URI (got ${JSON.stringify(location)})`);
  }
  // `mlflow-artifacts:/0/traces/tr-x/artifacts` or `mlflow-artifacts://host:port/0/...` (host ignored).
  return new URL(location).pathname.replace(/^\/+/, '');
}
