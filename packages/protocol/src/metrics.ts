/**
 * `POST /api/threadline/traces/metrics`: an experiment's traces aggregated over time, for charts.
 * Times in milliseconds since the epoch; buckets are `[time_ms, time_ms + bucket_ms)` from
 * `start_time_ms`. Latency percentiles are estimated from a log-scale histogram (bins ~20% wide).
 */
export interface TraceMetricsRequest {
  experiment_id: string;
  start_time_ms: number;
  end_time_ms: number;
  /** Bucket width; default: the range split into about 60 buckets. At most 1000 buckets. */
  bucket_ms?: number;
  /** Only this user's traces. */
  user_id?: string;
  /** Only this session's traces. */
  session_id?: string;
  /** Also split counts and tokens by the busiest users or sessions of the range. */
  group_by?: 'user' | 'session';
  /** How many groups, busiest first; default 8, at most 50. */
  max_groups?: number;
}
export interface TraceMetricsBucketJson {
  time_ms: number;
  traces: number;
  errors: number;
  /** Null when the bucket has no finished trace. */
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  latency_p99_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
}
export interface TraceMetricsGroupJson {
  key: string;
  traces: number;
  errors: number;
  total_tokens: number;
  /** One point per bucket of the response, in the same order. */
  series: { traces: number; errors: number; total_tokens: number }[];
}
export interface TraceMetricsResponse {
  start_time_ms: number;
  end_time_ms: number;
  bucket_ms: number;
  buckets: TraceMetricsBucketJson[];
  group_by?: 'user' | 'session';
  groups?: TraceMetricsGroupJson[];
}
/** Path of the metrics endpoint, under `/api` and `/ajax-api`. */
export const TRACE_METRICS_PATH = '/threadline/traces/metrics';
