import { ErrorCode, TRACE_DATA_FILE_NAME, TraceTagKey, type CreateExperimentResponse, type GetExperimentResponse, type TraceInfoResponse } from '@threadline/protocol';
import { spansJsonText } from '../json-text.js';
import { RestClient, type TrackingServerOptions } from '../rest-client.js';
import { exportResult, ThreadlineRequestError, type ExportFailure, type ExportResult, type FinishedTrace, type TraceExporter } from './trace-exporter.js';

export interface MlflowRestExporterOptions extends TrackingServerOptions {
  /** Experiment to log to. Default `"0"` unless `experimentName` is given. */
  experimentId?: string;
  /**
   * Experiment to log to, by name: looked up (and created if missing) at the first export, never
   * on the application's call path. A failed lookup is retried with the traces.
   */
  experimentName?: string;
  /** Traces exported at the same time (each is two requests in order). Default 8. */
  maxConcurrentTraces?: number;
}

/**
 * Exports each trace the way the MLflow TypeScript SDK does, so any MLflow-compatible server takes
 * it: `POST /api/3.0/mlflow/traces` with the trace info, then `PUT` of `traces.json` under the
 * artifact location the reply names. Several traces are in flight at once, up to a bound. A trace
 * whose info was logged but whose spans failed resumes at the upload when retried.
 *
 * @example
 * const exporter = new MlflowRestExporter({ trackingUri: 'http://127.0.0.1:5000', experimentId: '0' });
 * init({ exporter });
 */
export class MlflowRestExporter implements TraceExporter {
  private readonly rest: RestClient;
  private readonly maxConcurrent: number;
  private experimentIdPromise: Promise<string> | undefined;
  private readonly uploadPaths = new WeakMap<FinishedTrace, string>();

  constructor(private readonly options: MlflowRestExporterOptions) {
    this.rest = new RestClient(options);
    this.maxConcurrent = Math.max(1, options.maxConcurrentTraces ?? 8);
    if (options.experimentName === undefined || options.experimentId !== undefined) {
      this.experimentIdPromise = Promise.resolve(options.experimentId ?? '0');
    }
  }

  async export(traces: readonly FinishedTrace[]): Promise<ExportResult> {
    let experimentId: string;
    try {
      experimentId = await this.experimentId();
    } catch (error) {
      const failure = asRequestError(error);
      return exportResult(traces.map((trace) => ({ trace, error: failure })));
    }
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

  private experimentId(): Promise<string> {
    if (this.experimentIdPromise === undefined) {
      const pending = resolveExperimentId(this.rest, this.options.experimentName!);
      // A failure is not cached: the next export asks again.
      pending.catch(() => {
        if (this.experimentIdPromise === pending) this.experimentIdPromise = undefined;
      });
      this.experimentIdPromise = pending;
    }
    return this.experimentIdPromise;
  }
}

/** The path under `/api/2.0/mlflow-artifacts/artifacts/` of an `mlflow-artifacts:` location. */
function artifactPath(location: string | undefined): string {
  if (location === undefined || !location.startsWith('mlflow-artifacts:')) {
    throw new ThreadlineRequestError('invalid-response', `The create-trace reply has no ${TraceTagKey.ARTIFACT_LOCATION} tag with an mlflow-artifacts: URI (got ${JSON.stringify(location)})`);
  }
  // `mlflow-artifacts:/0/traces/tr-x/artifacts` or `mlflow-artifacts://host:port/0/...` (host ignored).
  return new URL(location).pathname.replace(/^\/+/, '');
}

/** The id of the experiment named `name`, creating it if it does not exist. */
export async function resolveExperimentId(rest: RestClient, name: string): Promise<string> {
  try {
    const found = await rest.request<GetExperimentResponse>('GET', '/api/2.0/mlflow/experiments/get-by-name', undefined, { experiment_name: name });
    return found.experiment.experiment_id;
  } catch (error) {
    if (!(error instanceof ThreadlineRequestError) || error.status !== 404) throw error;
  }
  try {
    const created = await rest.request<CreateExperimentResponse>('POST', '/api/2.0/mlflow/experiments/create', { name });
    return created.experiment_id;
  } catch (error) {
    // Another process created it in between.
    if (error instanceof ThreadlineRequestError && error.errorCode === ErrorCode.RESOURCE_ALREADY_EXISTS) {
      const found = await rest.request<GetExperimentResponse>('GET', '/api/2.0/mlflow/experiments/get-by-name', undefined, { experiment_name: name });
      return found.experiment.experiment_id;
    }
    throw error;
  }
}

function asRequestError(error: unknown): ThreadlineRequestError {
  if (error instanceof ThreadlineRequestError) return error;
  return new ThreadlineRequestError('exporter-error', error instanceof Error ? error.message : String(error), { cause: error });
}
