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
  /** Which groups are the top ones: the most traces (default) or the highest cost in the range. */
  order_groups_by?: 'traces' | 'cost';
  /** With `group_by`: answer only the groups, with `buckets` empty (a table of top users needs no chart of all traces). */
  groups_only?: boolean;
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
  /** USD of the priced LLM calls of the bucket's traces. */
  cost: number;
}
export interface TraceMetricsGroupJson {
  key: string;
  traces: number;
  errors: number;
  total_tokens: number;
  cost: number;
  /** One point per bucket of the response, in the same order. */
  series: { traces: number; errors: number; total_tokens: number; cost: number }[];
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

/**
 * `POST /api/threadline/feedback/metrics`: an experiment's valid feedback over time, per feedback
 * name, from the hourly feedback rollup. Feedback counts in the hour it was given, so the range
 * is widened to whole hours and buckets are whole hours (the response says which were used).
 */
export interface FeedbackMetricsRequest {
  experiment_id: string;
  start_time_ms: number;
  end_time_ms: number;
  /** Bucket width, rounded up to whole hours; default: the range in about 60 buckets. */
  bucket_ms?: number;
  /** Only these feedback names; default all, busiest first, at most `max_names`. */
  names?: string[];
  /** How many names, most feedback first; default 8, at most 50. */
  max_names?: number;
  /** Also count, per user or session, the feedback on its traces of the range. */
  group_by?: 'user' | 'session';
  /** The users or sessions to count for (e.g. the busiest ones the traces metrics named); at most 50. */
  group_keys?: string[];
}
/** Valid feedback counted: all of it, the yes/true and no/false values, and the numeric ones. */
export interface FeedbackCountsJson {
  count: number;
  positive: number;
  negative: number;
  numeric_count: number;
  numeric_sum: number;
}
export interface FeedbackNameSeriesJson extends FeedbackCountsJson {
  name: string;
  /** One point per bucket of the response, in order. */
  series: FeedbackCountsJson[];
}
export interface FeedbackGroupJson {
  key: string;
  /** Per feedback name, the feedback on the group's traces of the range. */
  names: (FeedbackCountsJson & { name: string })[];
}
export interface FeedbackMetricsResponse {
  /** The range and buckets used: whole hours around those asked for. */
  start_time_ms: number;
  end_time_ms: number;
  bucket_ms: number;
  /** Bucket start times, in order. */
  times_ms: number[];
  names: FeedbackNameSeriesJson[];
  group_by?: 'user' | 'session';
  groups?: FeedbackGroupJson[];
}
/** Path of the feedback metrics endpoint, under `/api` and `/ajax-api`. */
export const FEEDBACK_METRICS_PATH = '/threadline/feedback/metrics';

/**
 * `POST /api/threadline/models/metrics`: an experiment's LLM calls per model over time, from the
 * hourly model rollup (a call counts in the hour its span started): range and buckets are whole
 * hours, as for feedback. Calls that are the aggregate of others (an agent's total) do not count.
 */
export interface ModelMetricsRequest {
  experiment_id: string;
  start_time_ms: number;
  end_time_ms: number;
  bucket_ms?: number;
  /** How many models, most expensive first; the rest are summed as `(other)`. Default 8, at most 50. */
  max_models?: number;
}
export interface ModelCountsJson {
  calls: number;
  /** Calls of a model no price is known for: they cost nothing here. */
  unpriced_calls: number;
  input_tokens: number;
  output_tokens: number;
  /** USD. */
  cost: number;
}
export interface ModelMetricsResponse {
  start_time_ms: number;
  end_time_ms: number;
  bucket_ms: number;
  times_ms: number[];
  models: (ModelCountsJson & { model: string; series: ModelCountsJson[] })[];
}
export const MODEL_METRICS_PATH = '/threadline/models/metrics';
