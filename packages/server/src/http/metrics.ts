import { TRACE_METRICS_PATH, type TraceMetricsResponse } from '@threadline/protocol';
import type { FastifyInstance } from 'fastify';
import { invalidParameter } from '../errors.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import type { RouteContext } from './app.js';
import { bodyObject, optionalInteger, optionalString } from './fields.js';

const DEFAULT_BUCKETS = 60;
const MAX_BUCKETS = 1000;
const MAX_GROUPS = 50;

/**
 * `POST /api/threadline/traces/metrics`: traces, errors, latency percentiles and tokens per time
 * bucket, optionally split by the busiest users or sessions (the overview charts). MLflow's own
 * metrics API has no user or session dimension; this is the one the UI needs.
 */
export function registerMetricsRoutes(app: FastifyInstance, { store, experiments }: RouteContext): void {
  app.post(TRACE_METRICS_PATH, async (req): Promise<TraceMetricsResponse> => {
    const body = bodyObject(req.body);
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
    const maxGroups = optionalInteger(body, 'max_groups', 1, MAX_GROUPS) ?? 8;
    const userId = optionalString(body, 'user_id');
    const sessionId = optionalString(body, 'session_id');
    await experiments.artifactLocation(experimentId);
    const metrics = await store.traceMetrics({ experimentId, startTimeMs: start, endTimeMs: end, bucketMs, ...(userId !== undefined ? { userId } : {}), ...(sessionId !== undefined ? { sessionId } : {}), ...(groupBy ? { groupBy, maxGroups } : {}) });
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
      })),
      ...(groupBy && metrics.groups
        ? {
            group_by: groupBy,
            groups: metrics.groups.map((g) => ({
              key: g.key,
              traces: g.traces,
              errors: g.errors,
              total_tokens: g.totalTokens,
              series: g.series.map((p) => ({ traces: p.traces, errors: p.errors, total_tokens: p.totalTokens })),
            })),
          }
        : {}),
    };
  });
}
