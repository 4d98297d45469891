import { DEFAULT_EXPERIMENT_ID, ErrorCode, type CreateExperimentResponse, type GetExperimentResponse } from '@threadline/protocol';
import type { RestClient } from '../rest-client.js';
import { asRequestError, exportResult, ThreadlineRequestError, type ExportResult, type FinishedTrace } from './trace-exporter.js';

/** Where an exporter logs: an experiment by id, or by name. */
export interface ExperimentOptions {
  /** Experiment to log to. Default `"0"` unless `experimentName` is given. */
  experimentId?: string;
  /**
   * Experiment to log to, by name: looked up (and created if missing) at the first export, never
   * on the application's call path. A failed lookup is retried with the traces.
   */
  experimentName?: string;
}

/**
 * The experiment id an exporter logs to: given, or resolved from its name once (created if
 * missing). A failed lookup is not cached: the next export asks again.
 */
export class ExperimentIdResolver {
  private pending: Promise<string> | undefined;

  constructor(
    private readonly rest: RestClient,
    private readonly options: ExperimentOptions,
  ) {
    if (options.experimentName === undefined || options.experimentId !== undefined) {
      this.pending = Promise.resolve(options.experimentId ?? DEFAULT_EXPERIMENT_ID);
    }
  }

  get(): Promise<string> {
    if (this.pending === undefined) {
      const pending = resolveExperimentId(this.rest, this.options.experimentName!);
      pending.catch(() => {
        if (this.pending === pending) this.pending = undefined;
      });
      this.pending = pending;
    }
    return this.pending;
  }

  /** The id for exporting `traces`, or the result failing them all when it cannot be resolved (retried as its error says). */
  async forBatch(traces: readonly FinishedTrace[]): Promise<string | ExportResult> {
    try {
      return await this.get();
    } catch (error) {
      const failure = asRequestError(error);
      return exportResult(traces.map((trace) => ({ trace, error: failure })));
    }
  }
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

