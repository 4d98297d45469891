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
  /** MLflow's trace metrics: aggregates of traces, spans or assessments (mlflow-metrics.ts). */
  TRACES_METRICS_V3: '/3.0/mlflow/traces/metrics',
  TRACES_DELETE_V3: '/3.0/mlflow/traces/delete-traces',
  TRACES_TAGS_V3: '/3.0/mlflow/traces/{trace_id}/tags',
  ASSESSMENTS_CREATE: '/3.0/mlflow/traces/{trace_id}/assessments',
  ASSESSMENT: '/3.0/mlflow/traces/{trace_id}/assessments/{assessment_id}',
  TRACES_SEARCH_V2: '/2.0/mlflow/traces',
  TRACES_GET_INFO_V2: '/2.0/mlflow/traces/{request_id}/info',
  TRACES_DELETE_V2: '/2.0/mlflow/traces/delete-traces',
  TRACES_TAGS_V2: '/2.0/mlflow/traces/{request_id}/tags',
  TRACE_ARTIFACT: '/2.0/mlflow/get-trace-artifact',
  ARTIFACTS: '/2.0/mlflow-artifacts/artifacts/*',
  /** Threadline's own endpoints (DESIGN.md §5), under the same prefixes. */
  SESSIONS_SEARCH: '/threadline/sessions/search',
  SESSION_TRACES: '/threadline/sessions/{session_id}/traces',
  /** A session's own assessments: POST (create, `experiment_id` in the body), GET (list, in the query). */
  SESSION_ASSESSMENTS: '/threadline/sessions/{session_id}/assessments',
  /** One of them: GET, PATCH, DELETE, `experiment_id` in the query (or the body). */
  SESSION_ASSESSMENT: '/threadline/sessions/{session_id}/assessments/{assessment_id}',
  USERS_SEARCH: '/threadline/users/search',
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

/**
 * `POST /api/threadline/sessions/search`. `filter` is the session language (README, "Sessions and
 * users"): session fields such as `turns > 3` or `user = 'u-1'`, and trace clauses meaning "some
 * turn matches". `order_by` keys: last_time (default, DESC), first_time, turns, errors,
 * total_tokens, duration_ms, session_id, ...; each with ASC or DESC.
 */
export interface SearchSessionsRequest {
  experiment_id: string;
  filter?: string;
  order_by?: string[];
  /** Default 50, at most 500. */
  max_results?: number;
  page_token?: string;
}
/** A session from the `sessions` rollup. Times in milliseconds since the epoch. */
export interface SessionJson {
  session_id: string;
  experiment_id: string;
  /** Sorted; at most 20 (`user_count` has the full number). */
  user_ids: string[];
  user_count: number;
  trace_count: number;
  error_count: number;
  first_time_ms: number;
  last_time_ms: number;
  /** From the first turn's start to the end of the turn that ended last. */
  duration_ms: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  /** USD of the priced LLM calls of its traces (models without a price count nothing). */
  cost: number;
  first_trace_id: string;
  first_request_preview: string | null;
  last_trace_id: string;
  last_response_preview: string | null;
  /** Valid feedback on the session's turns and on the session itself, by name (names with none left out). */
  feedback: Record<string, FeedbackSummaryJson>;
}

/** What the rollups count of one feedback name: how many, how many yes / no, and the sum of numbers. */
export interface FeedbackSummaryJson {
  count: number;
  positive: number;
  negative: number;
  numeric_count: number;
  /** The sum of the numeric values (their mean is sum / numeric_count). */
  sum: number;
}
export interface SearchSessionsResponse {
  sessions: SessionJson[];
  next_page_token?: string;
}
/** `GET /api/threadline/sessions/{session_id}/traces?experiment_id=&max_results=&page_token=`: oldest turn first. */
export interface SessionTracesResponse {
  traces: TraceInfoJson[];
  next_page_token?: string;
}
/** `POST /api/threadline/users/search`; `order_by` keys: last_time (default, DESC), traces, sessions, errors, ... */
export interface SearchUsersRequest {
  experiment_id: string;
  filter?: string;
  order_by?: string[];
  /** Default 50, at most 500. */
  max_results?: number;
  page_token?: string;
}
/** A user from the `users` rollup. Times in milliseconds since the epoch. */
export interface UserJson {
  user_id: string;
  experiment_id: string;
  first_time_ms: number;
  last_time_ms: number;
  trace_count: number;
  session_count: number;
  error_count: number;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  /** USD of the priced LLM calls of its traces (models without a price count nothing). */
  cost: number;
  /** Valid feedback on the user's turns and sessions, by name. */
  feedback: Record<string, FeedbackSummaryJson>;
}
export interface SearchUsersResponse {
  users: UserJson[];
  next_page_token?: string;
}
/** Default and largest `max_results` of the sessions and users searches. */
export const SEARCH_ROLLUPS_DEFAULT_MAX_RESULTS = 50;
export const SEARCH_ROLLUPS_MAX_RESULTS = 500;
/** Default and largest `max_results` of a session's traces. */
export const SESSION_TRACES_DEFAULT_MAX_RESULTS = 100;
export const SESSION_TRACES_MAX_RESULTS = 500;
