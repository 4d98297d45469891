/**
 * MLflow's trace metrics API (`QueryTraceMetrics` in MLflow's service.proto):
 * `POST /api/3.0/mlflow/traces/metrics` aggregates one metric of an experiment's traces, spans or
 * assessments, grouped by dimensions and, optionally, by time bucket. The JSON is the proto's.
 */

/** What the rows aggregated are. JSON carries the name; the proto's numbers (1, 2, 3) are accepted too. */
export const MetricViewType = {
  TRACES: 'TRACES',
  SPANS: 'SPANS',
  ASSESSMENTS: 'ASSESSMENTS',
} as const;
export type MetricViewType = (typeof MetricViewType)[keyof typeof MetricViewType];

/** How values are aggregated; PERCENTILE takes `percentile_value`. Proto numbers 1 to 6, in this order. */
export const AggregationType = {
  COUNT: 'COUNT',
  SUM: 'SUM',
  AVG: 'AVG',
  PERCENTILE: 'PERCENTILE',
  MIN: 'MIN',
  MAX: 'MAX',
} as const;
export type AggregationType = (typeof AggregationType)[keyof typeof AggregationType];

/**
 * The dimension every data point has when `time_interval_seconds` is set: the start of its bucket
 * as Python's `datetime.isoformat()` writes it in UTC, e.g. `2026-11-20T00:00:00+00:00`.
 */
export const TIME_BUCKET_DIMENSION = 'time_bucket';

/** Largest and default `max_results`. */
export const QUERY_TRACE_METRICS_MAX_RESULTS = 1000;

export interface MetricAggregationJson {
  aggregation_type: AggregationType | number;
  /** 0 to 100; required with PERCENTILE and refused with any other type. */
  percentile_value?: number;
}

export interface QueryTraceMetricsRequest {
  experiment_ids: string[];
  /** Default TRACES, the proto enum's first value. */
  view_type?: MetricViewType | number;
  /** E.g. `trace_count`, `latency`, `total_tokens`, `span_count`, `assessment_value`. */
  metric_name: string;
  aggregations: MetricAggregationJson[];
  /** E.g. `trace_name`, `trace_status`, `span_type`, `span_model_name`, `assessment_name`. */
  dimensions?: string[];
  /** Each one a filter (`trace.status = "ERROR"`, `span.type = "LLM"`, ...); all must hold. */
  filters?: string[];
  /** Bucket width; needs `start_time_ms` and `end_time_ms`. Buckets start at multiples of it since the epoch. */
  time_interval_seconds?: number | string;
  /** Traces whose request time is within [start_time_ms, end_time_ms]. */
  start_time_ms?: number | string;
  end_time_ms?: number | string;
  /** Data points per page, 1 to 1000; default 1000. */
  max_results?: number;
  page_token?: string;
}

export interface MetricDataPointJson {
  metric_name: string;
  /** One entry per requested dimension (and `time_bucket`). */
  dimensions: Record<string, string>;
  /** By aggregation: `COUNT`, `SUM`, `AVG`, `MIN`, `MAX`, or `P<percentile>` as Python prints a float (`P95.0`, `P99.9`). */
  values: Record<string, number>;
}

export interface QueryTraceMetricsResponse {
  /** Ordered by time bucket, then by the dimensions in the order asked. */
  data_points: MetricDataPointJson[];
  /** Set when the page is full; the next page starts after its last data point. */
  next_page_token?: string;
}
