import { AggregationType, ApiPath, MetricViewType, QUERY_TRACE_METRICS_MAX_RESULTS, type QueryTraceMetricsResponse } from '@threadline/protocol';
import type { FastifyInstance } from 'fastify';
import { invalidParameter } from '../errors.js';
import { isObject } from '../ingest/mlflow-spans.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import type { MetricAggregation } from '../store/mlflow-trace-metrics.js';
import type { RouteContext } from './app.js';
import { bodyObject, optionalInteger, optionalString, optionalStringList, requiredString } from './fields.js';

/** Each enum's names in the order of their proto numbers, from 1: JSON may carry either. */
const VIEW_TYPES: readonly MetricViewType[] = Object.values(MetricViewType);
const AGGREGATION_TYPES: readonly AggregationType[] = Object.values(AggregationType);

/** Buckets are at most this wide, so that their width in ms stays an exact integer. */
const MAX_TIME_INTERVAL_SECONDS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

/**
 * `POST /api/3.0/mlflow/traces/metrics`: MLflow's `QueryTraceMetrics`, which MLflow 3's UI and
 * SDKs call for counts, latency, tokens and assessment scores over time. The request and reply
 * are the proto's JSON; what the store refuses (metric, aggregation, dimension, filter) is a 400
 * with MLflow's message. Enums left out take the proto's first value, as in MLflow: view TRACES,
 * aggregation COUNT.
 */
export function registerMlflowMetricsRoutes(app: FastifyInstance, { store }: RouteContext): void {
  app.post(ApiPath.TRACES_METRICS_V3, async (req): Promise<QueryTraceMetricsResponse> => {
    const body = bodyObject(req.body);
    const experimentIds = (optionalStringList(body, 'experiment_ids') ?? []).map((id) => parseExperimentId(id, 'experiment_ids'));
    if (experimentIds.length === 0) throw invalidParameter(`Missing value for required parameter 'experiment_ids'.`);
    const metricName = requiredString(body, 'metric_name');
    // 0 is the proto's "not set".
    const timeIntervalSeconds = optionalInteger(body, 'time_interval_seconds', 0, MAX_TIME_INTERVAL_SECONDS) || undefined;
    const startTimeMs = optionalInteger(body, 'start_time_ms', Number.MIN_SAFE_INTEGER);
    const endTimeMs = optionalInteger(body, 'end_time_ms', Number.MIN_SAFE_INTEGER);
    const pageToken = optionalString(body, 'page_token');
    const page = await store.queryMetricDataPoints({
      experimentIds,
      view: enumField(body, 'view_type', VIEW_TYPES) ?? 'TRACES',
      metricName,
      aggregations: aggregationsOf(body),
      dimensions: optionalStringList(body, 'dimensions') ?? [],
      filters: optionalStringList(body, 'filters') ?? [],
      maxResults: optionalInteger(body, 'max_results', 1, QUERY_TRACE_METRICS_MAX_RESULTS) ?? QUERY_TRACE_METRICS_MAX_RESULTS,
      ...(timeIntervalSeconds !== undefined ? { timeIntervalSeconds } : {}),
      ...(startTimeMs !== undefined ? { startTimeMs } : {}),
      ...(endTimeMs !== undefined ? { endTimeMs } : {}),
      ...(pageToken ? { pageToken } : {}),
    });
    return {
      data_points: page.dataPoints.map((point) => ({ metric_name: metricName, dimensions: point.dimensions, values: point.values })),
      ...(page.nextPageToken !== undefined ? { next_page_token: page.nextPageToken } : {}),
    };
  });
}

/** An enum field by name (`"SPANS"`) or proto number (`2`); undefined when absent. */
function enumField<T extends string>(obj: Record<string, unknown>, field: string, names: readonly T[], where = field): T | undefined {
  const raw = obj[field];
  if (raw === undefined || raw === null) return undefined;
  const value = typeof raw === 'number' && Number.isInteger(raw) ? names[raw - 1] : names.find((name) => name === raw);
  if (value === undefined) {
    throw invalidParameter(`Invalid value ${JSON.stringify(raw)} for parameter '${where}': expected one of ${names.join(', ')} (or 1 to ${names.length}).`);
  }
  return value;
}

/** `aggregations`: a list of `{aggregation_type, percentile_value}`; the store checks what they mean. */
function aggregationsOf(body: Record<string, unknown>): MetricAggregation[] {
  const raw = body.aggregations;
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalidParameter(`Invalid value ${JSON.stringify(raw)} for parameter 'aggregations': it must be a list of objects.`);
  return raw.map((item: unknown) => {
    if (!isObject(item)) throw invalidParameter(`Invalid value ${JSON.stringify(item)} in parameter 'aggregations': each must be an object.`);
    const type = enumField(item, 'aggregation_type', AGGREGATION_TYPES, 'aggregations.aggregation_type') ?? 'COUNT';
    const percentile = item.percentile_value;
    if (percentile === undefined || percentile === null) return { type };
    // Proto JSON may write a double as a string.
    const percentileValue = typeof percentile === 'string' && percentile.trim() !== '' ? Number(percentile) : percentile;
    if (typeof percentileValue !== 'number' || !Number.isFinite(percentileValue)) {
      throw invalidParameter(`Invalid value ${JSON.stringify(percentile)} for parameter 'aggregations.percentile_value': it must be a number.`);
    }
    return { type, percentileValue };
  });
}
