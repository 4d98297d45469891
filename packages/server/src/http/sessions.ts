import {
  ApiPath,
  SEARCH_ROLLUPS_DEFAULT_MAX_RESULTS,
  SEARCH_ROLLUPS_MAX_RESULTS,
  SESSION_TRACES_DEFAULT_MAX_RESULTS,
  SESSION_TRACES_MAX_RESULTS,
  type SearchSessionsResponse,
  type SessionJson,
  type SessionTracesResponse,
} from '@threadline/protocol';
import { toUsd } from '../cost/units.js';
import type { FastifyInstance } from 'fastify';
import { notFound } from '../errors.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import type { RollupSearchRequest, SessionSummary } from '../query/index.js';
import { feedbackSummariesJson } from '../query/feedback-summaries.js';
import type { RouteContext } from './app.js';
import { bodyObject, optionalInteger, optionalString, optionalStringList } from './fields.js';
import { traceInfoJson } from './views.js';

/**
 * Threadline's sessions endpoints: search over the `sessions` rollup, and a session's turns in
 * order. An unknown experiment is a 404, a bad filter, order or token a 400 naming it.
 */
export function registerSessionRoutes(app: FastifyInstance, { store, experiments }: RouteContext): void {
  registerRollupSearch(app, experiments, ApiPath.SESSIONS_SEARCH, async (request): Promise<SearchSessionsResponse> => {
    const page = await store.searchSessions(request);
    return { sessions: page.sessions.map(sessionJson), ...nextToken(page) };
  });

  app.get<{ Params: { session_id: string } }>(ApiPath.SESSION_TRACES.replace('{session_id}', ':session_id'), async (req): Promise<SessionTracesResponse> => {
    const params = bodyObject(req.query);
    const experimentId = parseExperimentId(params.experiment_id, 'experiment_id');
    const artifactLocation = await experiments.artifactLocation(experimentId);
    const pageToken = optionalString(params, 'page_token');
    const page = await store.getSessionTraces({
      experimentId,
      sessionId: req.params.session_id,
      maxResults: optionalInteger(params, 'max_results', 1, SESSION_TRACES_MAX_RESULTS) ?? SESSION_TRACES_DEFAULT_MAX_RESULTS,
      ...(pageToken ? { pageToken } : {}),
    });
    if (!page) throw notFound(`Session '${req.params.session_id}' not found in experiment ${experimentId}.`);
    return {
      traces: page.traces.map((trace) => traceInfoJson(trace, artifactLocation)),
      ...nextToken(page),
    };
  });
}

/**
 * Registers a sessions or users search: the body checked (400 naming the field), the experiment
 * looked up (404), then `search` answers.
 */
export function registerRollupSearch<Reply>(
  app: FastifyInstance,
  experiments: RouteContext['experiments'],
  path: string,
  search: (request: RollupSearchRequest) => Promise<Reply>,
): void {
  app.post(path, async (req): Promise<Reply> => {
    const request = rollupSearchRequest(bodyObject(req.body));
    await experiments.artifactLocation(request.experimentId);
    return search(request);
  });
}

/** `next_page_token` when the page has one. */
export function nextToken(page: { nextPageToken?: string }): { next_page_token?: string } {
  return page.nextPageToken !== undefined ? { next_page_token: page.nextPageToken } : {};
}

/** The body of a sessions or users search: `experiment_id`, `filter`, `order_by`, `max_results`, `page_token`. */
function rollupSearchRequest(body: Record<string, unknown>): RollupSearchRequest {
  const experimentId = parseExperimentId(body.experiment_id, 'experiment_id');
  const filter = optionalString(body, 'filter');
  const orderBy = optionalStringList(body, 'order_by');
  const pageToken = optionalString(body, 'page_token');
  return {
    experimentId,
    maxResults: optionalInteger(body, 'max_results', 1, SEARCH_ROLLUPS_MAX_RESULTS) ?? SEARCH_ROLLUPS_DEFAULT_MAX_RESULTS,
    ...(filter !== undefined && filter.trim() !== '' ? { filter } : {}),
    ...(orderBy !== undefined ? { orderBy } : {}),
    ...(pageToken ? { pageToken } : {}),
  };
}

function sessionJson(s: SessionSummary): SessionJson {
  return {
    session_id: s.sessionId,
    experiment_id: s.experimentId,
    user_ids: s.userIds,
    user_count: s.userCount,
    trace_count: s.traceCount,
    error_count: s.errorCount,
    first_time_ms: s.firstTimeMs,
    last_time_ms: s.lastTimeMs,
    duration_ms: s.lastEndTimeMs - s.firstTimeMs,
    input_tokens: s.inputTokens,
    output_tokens: s.outputTokens,
    total_tokens: s.totalTokens,
    cost: toUsd(s.costNanos),
    first_trace_id: s.firstTraceId,
    first_request_preview: s.firstRequestPreview,
    last_trace_id: s.lastTraceId,
    last_response_preview: s.lastResponsePreview,
    feedback: feedbackSummariesJson(s.feedback),
  };
}
