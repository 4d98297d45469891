import { FEEDBACK_METRICS_PATH, MODEL_METRICS_PATH, TRACE_METRICS_PATH, type FeedbackCountsJson, type FeedbackMetricsResponse, type ModelCountsJson, type ModelMetricsResponse, type TraceMetricsResponse } from '@threadline/protocol';
import type { FastifyInstance } from 'fastify';
import { invalidParameter } from '../errors.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import type { RouteContext } from './app.js';
import { toUsd } from '../cost/units.js';
import type { FeedbackCounts } from '../store/feedback-rollups.js';
import { wholeHours } from '../store/feedback-metrics.js';
import type { ModelCounts } from '../store/model-metrics.js';
import { bodyObject, optionalBoolean, optionalInteger, optionalString, optionalStringList } from './fields.js';

const DEFAULT_BUCKETS = 60;
const MAX_BUCKETS = 1000;
const MAX_GROUPS = 50;

/**
 * `POST /api/threadline/traces/metrics`: traces, errors, latency percentiles and tokens per time
 * bucket, optionally split by the busiest users or sessions (the overview charts). MLflow's own
 * metrics API has no user or session dimension; this is the one the UI needs.
 */
export function registerMetricsRoutes(app: FastifyInstance, context: RouteContext): void {
  const { store, experiments } = context;
  app.post(TRACE_METRICS_PATH, async (req): Promise<TraceMetricsResponse> => {
    const body = bodyObject(req.body);
    const { experimentId, start, end, bucketMs, groupBy } = rangeOf(body);
    const maxGroups = optionalInteger(body, 'max_groups', 1, MAX_GROUPS) ?? 8;
    const orderGroupsBy = optionalString(body, 'order_groups_by');
    if (orderGroupsBy !== undefined && orderGroupsBy !== 'traces' && orderGroupsBy !== 'cost') {
      throw invalidParameter(`Invalid value '${orderGroupsBy}' for parameter 'order_groups_by': expected 'traces' or 'cost'.`);
    }
    const groupsOnly = optionalBoolean(body, 'groups_only') ?? false;
    if (groupsOnly && !groupBy) throw invalidParameter("Parameter 'groups_only' needs 'group_by': without groups there would be nothing to answer.");
    const userId = optionalString(body, 'user_id');
    const sessionId = optionalString(body, 'session_id');
    await experiments.artifactLocation(experimentId);
    const metrics = await store.traceMetrics({
      experimentId, startTimeMs: start, endTimeMs: end, bucketMs,
      ...(userId !== undefined ? { userId } : {}),
      ...(sessionId !== undefined ? { sessionId } : {}),
      ...(groupBy ? { groupBy, maxGroups, groupsOnly, ...(orderGroupsBy ? { orderGroupsBy } : {}) } : {}),
    });
    return {
      start_time_ms: start,
      end_time_ms: end,
      bucket_ms: bucketMs,
      buckets: metrics.buckets.map((b) => ({
        time_ms: start + b.index * bucketMs,
        traces: b.traces,
        errors: b.errors,
        latency_p50_ms: b.latencyP50Ms,
        latency_p95_ms: b.latencyP95Ms,
        latency_p99_ms: b.latencyP99Ms,
        input_tokens: b.inputTokens,
        output_tokens: b.outputTokens,
        total_tokens: b.totalTokens,
        cost: toUsd(b.costNanos),
      })),
      ...(groupBy && metrics.groups
        ? {
            group_by: groupBy,
            groups: metrics.groups.map((g) => ({
              key: g.key,
              traces: g.traces,
              errors: g.errors,
              total_tokens: g.totalTokens,
              cost: toUsd(g.costNanos),
              series: g.series.map((p) => ({ traces: p.traces, errors: p.errors, total_tokens: p.totalTokens, cost: toUsd(p.costNanos) })),
            })),
          }
        : {}),
    };
  });

  registerModelMetricsRoute(app, context);

  app.post(FEEDBACK_METRICS_PATH, async (req): Promise<FeedbackMetricsResponse> => {
    const body = bodyObject(req.body);
    const { asked, startMs, endMs, bucketMs, timesMs } = hourlyRangeOf(body);
    const names = optionalStringList(body, 'names');
    const groupKeys = optionalStringList(body, 'group_keys');
    if (groupKeys && groupKeys.length > MAX_GROUPS) throw invalidParameter(`'group_keys' names ${groupKeys.length} groups; at most ${MAX_GROUPS}.`);
    if (groupKeys && !asked.groupBy) throw invalidParameter(`'group_keys' needs 'group_by' ('user' or 'session').`);
    const maxNames = optionalInteger(body, 'max_names', 1, MAX_GROUPS) ?? 8;
    await experiments.artifactLocation(asked.experimentId);
    const metrics = await store.feedbackMetrics({
      experimentId: asked.experimentId,
      startTimeMs: startMs,
      endTimeMs: endMs,
      bucketMs,
      maxNames,
      ...(names ? { names } : {}),
      ...(asked.groupBy ? { groupBy: asked.groupBy, groupKeys: groupKeys ?? [], groupStartMs: asked.start, groupEndMs: asked.end } : {}),
    });
    return {
      start_time_ms: startMs,
      end_time_ms: endMs,
      bucket_ms: bucketMs,
      times_ms: timesMs,
      names: metrics.names.map((n) => ({ name: n.name, ...countsJson(n.total), series: n.series.map(countsJson) })),
      ...(asked.groupBy && metrics.groups
        ? { group_by: asked.groupBy, groups: metrics.groups.map((g) => ({ key: g.key, names: g.names.map((n) => ({ name: n.name, ...countsJson(n.counts) })) })) }
        : {}),
    };
  });
}

/** Hour-aligned reads of `model_hours`: calls, tokens and cost per model (the overview's cost by model). */
function registerModelMetricsRoute(app: FastifyInstance, { store, experiments }: RouteContext): void {
  app.post(MODEL_METRICS_PATH, async (req): Promise<ModelMetricsResponse> => {
    const body = bodyObject(req.body);
    const { asked, startMs, endMs, bucketMs, timesMs } = hourlyRangeOf(body);
    const maxModels = optionalInteger(body, 'max_models', 1, MAX_GROUPS) ?? 8;
    await experiments.artifactLocation(asked.experimentId);
    const models = await store.modelMetrics({ experimentId: asked.experimentId, startTimeMs: startMs, endTimeMs: endMs, bucketMs, maxModels });
    const json = (c: ModelCounts): ModelCountsJson => ({ calls: c.calls, unpriced_calls: c.unpricedCalls, input_tokens: c.inputTokens, output_tokens: c.outputTokens, cost: toUsd(c.costNanos) });
    return { start_time_ms: startMs, end_time_ms: endMs, bucket_ms: bucketMs, times_ms: timesMs, models: models.map((m) => ({ model: m.model, ...json(m.total), series: m.series.map(json) })) };
  });
}

/** The hour-aligned range of a request to a metrics endpoint that reads an hourly rollup, checked. */
function hourlyRangeOf(body: Record<string, unknown>) {
  const asked = rangeOf(body);
  const hours = wholeHours(asked.start, asked.end, asked.bucketMs);
  if ((hours.endMs - hours.startMs) / hours.bucketMs > MAX_BUCKETS) {
    throw invalidParameter(`'bucket_ms' ${asked.bucketMs} gives more than ${MAX_BUCKETS} hourly buckets over the range.`);
  }
  const timesMs = Array.from({ length: Math.ceil((hours.endMs - hours.startMs) / hours.bucketMs) }, (_, i) => hours.startMs + i * hours.bucketMs);
  return { asked, ...hours, timesMs };
}

/** The experiment, time range, buckets and grouping that the metrics endpoints take, checked. */
function rangeOf(body: Record<string, unknown>): { experimentId: string; start: number; end: number; bucketMs: number; groupBy: 'user' | 'session' | undefined } {
  const experimentId = parseExperimentId(body.experiment_id, 'experiment_id');
  const start = optionalInteger(body, 'start_time_ms', 0);
  const end = optionalInteger(body, 'end_time_ms', 0);
  if (start === undefined || end === undefined) throw invalidParameter(`Missing value for required parameter '${start === undefined ? 'start_time_ms' : 'end_time_ms'}'.`);
  if (end <= start) throw invalidParameter(`'end_time_ms' (${end}) must be after 'start_time_ms' (${start}).`);
  const bucketMs = optionalInteger(body, 'bucket_ms', 1) ?? Math.max(1, Math.ceil((end - start) / DEFAULT_BUCKETS));
  if (Math.ceil((end - start) / bucketMs) > MAX_BUCKETS) {
    throw invalidParameter(`'bucket_ms' ${bucketMs} gives more than ${MAX_BUCKETS} buckets over the range; use at least ${Math.ceil((end - start) / MAX_BUCKETS)}.`);
  }
  const groupBy = optionalString(body, 'group_by');
  if (groupBy !== undefined && groupBy !== 'user' && groupBy !== 'session') {
    throw invalidParameter(`Invalid value '${groupBy}' for parameter 'group_by': expected 'user' or 'session'.`);
  }
  return { experimentId, start, end, bucketMs, groupBy };
}

function countsJson(c: FeedbackCounts): FeedbackCountsJson {
  return { count: c.count, positive: c.true_count, negative: c.false_count, numeric_count: c.numeric_count, numeric_sum: c.numeric_sum };
}
