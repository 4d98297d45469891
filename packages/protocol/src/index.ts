export {
  TRACE_ID_PREFIX,
  TRACE_SCHEMA_VERSION,
  REQUEST_RESPONSE_PREVIEW_MAX_LENGTH,
  DEFAULT_EXPERIMENT_ID,
  DEFAULT_EXPERIMENT_NAME,
  TraceMetadataKey,
  TraceTagKey,
  SPANS_LOCATION_TRACKING_STORE,
  SpanAttributeKey,
  TokenUsageKey,
  MAX_METADATA_KEY_LENGTH,
  MAX_METADATA_VALUE_LENGTH,
  MAX_TAG_KEY_LENGTH,
  MAX_TAG_VALUE_LENGTH,
} from './keys.js';
export type { TokenUsage } from './keys.js';
export { SpanType, SpanStatusCode } from './span.js';
export { displayText, requestPreview, responsePreview, truncatePreview } from './preview.js';
export { luhnValid } from './luhn.js';
export type { NanoTime, SpanEventJson, SpanJson, TraceDataJson } from './span.js';
export { TraceState, TraceLocationType } from './trace-info.js';
export { AssessmentSourceType, ASSESSMENT_ID_PREFIX, EXPECTATION_SERIALIZATION_FORMAT } from './assessment.js';
export type {
  AssessmentErrorJson,
  AssessmentJson,
  AssessmentResponse,
  ListAssessmentsResponse,
  AssessmentSourceJson,
  CreateAssessmentRequest,
  ExpectationJson,
  FeedbackJson,
  UpdateAssessmentRequest,
} from './assessment.js';
export type { KeyValueJson, TraceInfoJson, TraceInfoV2Json, TraceLocationJson } from './trace-info.js';
export { LifecycleStage, ViewType } from './experiment.js';
export type { ExperimentJson } from './experiment.js';
export { ErrorCode, HTTP_STATUS_OF_ERROR_CODE } from './errors.js';
export type { ErrorBody } from './errors.js';
export {
  ApiPath,
  API_PREFIXES,
  TRACE_DATA_FILE_NAME,
  SEARCH_TRACES_DEFAULT_MAX_RESULTS,
  SEARCH_TRACES_MAX_RESULTS,
  SEARCH_ROLLUPS_DEFAULT_MAX_RESULTS,
  SEARCH_ROLLUPS_MAX_RESULTS,
  SESSION_TRACES_DEFAULT_MAX_RESULTS,
  SESSION_TRACES_MAX_RESULTS,
} from './api.js';
export type {
  CreateExperimentRequest,
  CreateExperimentResponse,
  GetExperimentResponse,
  SearchExperimentsRequest,
  SearchExperimentsResponse,
  StartTraceV3Request,
  TraceInfoResponse,
  TraceWithSpansJson,
  GetTraceResponse,
  BatchGetTracesResponse,
  BatchGetTraceInfosRequest,
  BatchGetTraceInfosResponse,
  SearchTracesV3Request,
  SearchTracesV3Response,
  SearchTracesV2Response,
  DeleteTracesRequest,
  DeleteTracesResponse,
  SetTraceTagRequest,
  DeleteTraceTagRequest,
  SearchSessionsRequest,
  SearchSessionsResponse,
  SessionJson,
  FeedbackSummaryJson,
  SessionTracesResponse,
  SearchUsersRequest,
  SearchUsersResponse,
  UserJson,
} from './api.js';
export { FEEDBACK_METRICS_PATH, MODEL_METRICS_PATH, TRACE_METRICS_PATH } from './metrics.js';
export { LIVE_CHANGES_EVENT, LIVE_EVENTS_PATH } from './live.js';
export type { LiveChangeJson, LiveChangeKind, LiveChangesJson } from './live.js';
export type {
  FeedbackCountsJson,
  FeedbackGroupJson,
  FeedbackMetricsRequest,
  FeedbackMetricsResponse,
  FeedbackNameSeriesJson,
  ModelCountsJson,
  ModelMetricsRequest,
  ModelMetricsResponse,
  TraceMetricsRequest,
  TraceMetricsBucketJson,
  TraceMetricsGroupJson,
  TraceMetricsResponse,
} from './metrics.js';
export { AggregationType, MetricViewType, QUERY_TRACE_METRICS_MAX_RESULTS, TIME_BUCKET_DIMENSION } from './mlflow-metrics.js';
export type { MetricAggregationJson, MetricDataPointJson, QueryTraceMetricsRequest, QueryTraceMetricsResponse } from './mlflow-metrics.js';
export type { ErasureJson } from './erasures.js';
export { FILTER_LANGUAGES, FILTER_SUGGESTIONS_PATH, FILTER_VALUE_KINDS, FILTER_VALUES_PATH } from './filter-suggestions.js';
export type { FilterFieldJson, FilterLanguage, FilterSuggestionsJson, FilterValueKind, FilterValuesJson } from './filter-suggestions.js';
