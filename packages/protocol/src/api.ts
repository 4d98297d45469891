import type { ExperimentJson, ViewType } from './experiment.js';
import type { SpanJson } from './span.js';
import type { KeyValueJson, TraceInfoJson, TraceInfoV2Json, TraceLocationJson } from './trace-info.js';

/**
 * Paths of the REST API. Every MLflow path is also served under `/ajax-api/` (the UI's prefix).
 * `{x}` marks a path parameter.
 */
export const ApiPath = {
  HEALTH: '/health',
  VERSION: '/version',
  EXPERIMENTS_CREATE: '/2.0/mlflow/experiments/create',
  EXPERIMENTS_GET: '/2.0/mlflow/experiments/get',
  EXPERIMENTS_GET_BY_NAME: '/2.0/mlflow/experiments/get-by-name',
  EXPERIMENTS_SEARCH: '/2.0/mlflow/experiments/search',
  EXPERIMENTS_UPDATE: '/2.0/mlflow/experiments/update',
  EXPERIMENTS_DELETE: '/2.0/mlflow/experiments/delete',
  EXPERIMENTS_RESTORE: '/2.0/mlflow/experiments/restore',
  EXPERIMENTS_SET_TAG: '/2.0/mlflow/experiments/set-experiment-tag',
  EXPERIMENTS_DELETE_TAG: '/2.0/mlflow/experiments/delete-experiment-tag',
  TRACES_START_V3: '/3.0/mlflow/traces',
  TRACES_GET_INFO_V3: '/3.0/mlflow/traces/{trace_id}',
  TRACES_GET_V3: '/3.0/mlflow/traces/get',
  TRACES_BATCH_GET_V3: '/3.0/mlflow/traces/batchGet',
  TRACES_BATCH_GET_INFOS_V3: '/3.0/mlflow/traces/batchGetInfos',
  TRACES_SEARCH_V3: '/3.0/mlflow/traces/search',
  TRACES_DELETE_V3: '/3.0/mlflow/traces/delete-traces',
  TRACES_TAGS_V3: '/3.0/mlflow/traces/{trace_id}/tags',
  TRACES_SEARCH_V2: '/2.0/mlflow/traces',
  TRACES_GET_INFO_V2: '/2.0/mlflow/traces/{request_id}/info',
  TRACES_DELETE_V2: '/2.0/mlflow/traces/delete-traces',
  TRACES_TAGS_V2: '/2.0/mlflow/traces/{request_id}/tags',
  TRACE_ARTIFACT: '/2.0/mlflow/get-trace-artifact',
  ARTIFACTS: '/2.0/mlflow-artifacts/artifacts/*',
} as const;

/** Prefixes every MLflow path is served under. */
export const API_PREFIXES = ['/api', '/ajax-api'] as const;

/** Name of the span file under a trace's artifact location. */
export const TRACE_DATA_FILE_NAME = 'traces.json';

export interface CreateExperimentRequest {
  name: string;
  artifact_location?: string;
  /** A list as in MLflow's proto, or a map as the MLflow TypeScript SDK sends it. */
  tags?: KeyValueJson[] | Record<string, string>;
}
export interface CreateExperimentResponse {
  experiment_id: string;
}
export interface GetExperimentResponse {
  experiment: ExperimentJson;
}
export interface SearchExperimentsRequest {
  max_results?: number;
  page_token?: string;
  filter?: string;
  order_by?: string[];
  view_type?: ViewType;
}
export interface SearchExperimentsResponse {
  experiments: ExperimentJson[];
  next_page_token?: string;
}

export interface StartTraceV3Request {
  trace: { trace_info: TraceInfoJson };
}
export interface TraceInfoResponse {
  trace: { trace_info: TraceInfoJson };
}
export interface TraceWithSpansJson {
  trace_info: TraceInfoJson;
  spans: SpanJson[];
}
export interface GetTraceResponse {
  trace: TraceWithSpansJson;
}
export interface BatchGetTracesResponse {
  traces: TraceWithSpansJson[];
}
export interface BatchGetTraceInfosRequest {
  trace_ids: string[];
}
export interface BatchGetTraceInfosResponse {
  trace_infos: TraceInfoJson[];
}

export interface SearchTracesV3Request {
  locations?: TraceLocationJson[];
  filter?: string;
  max_results?: number;
  order_by?: string[];
  page_token?: string;
}
export interface SearchTracesV3Response {
  traces: TraceInfoJson[];
  next_page_token?: string;
}
export interface SearchTracesV2Response {
  traces: TraceInfoV2Json[];
  next_page_token?: string;
}
/** Default and largest `max_results` of trace search over REST. */
export const SEARCH_TRACES_DEFAULT_MAX_RESULTS = 100;
export const SEARCH_TRACES_MAX_RESULTS = 500;

export interface DeleteTracesRequest {
  experiment_id: string;
  max_timestamp_millis?: number;
  max_traces?: number;
  request_ids?: string[];
}
export interface DeleteTracesResponse {
  traces_deleted: number;
}
export interface SetTraceTagRequest {
  key: string;
  value: string;
}
export interface DeleteTraceTagRequest {
  key: string;
}
