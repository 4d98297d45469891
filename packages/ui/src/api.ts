import type {
  ErrorBody,
  ExperimentJson,
  GetTraceResponse,
  SearchExperimentsResponse,
  SearchSessionsResponse,
  SearchTracesV3Response,
  SearchUsersResponse,
  SessionTracesResponse,
  BatchGetTracesResponse,
  TraceMetricsRequest,
  TraceMetricsResponse,
} from '@threadline/protocol';
import { normalizeSpan } from './messages';

/** The UI talks to the server under MLflow's UI prefix; every path is also under /api. */
const PREFIX = '/ajax-api';

/** A non-2xx reply, with the server's `{error_code, message}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

async function call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const response = await fetch(PREFIX + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    ...(signal ? { signal } : {}),
  });
  const text = await response.text();
  if (!response.ok) {
    let parsed: Partial<ErrorBody> = {};
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {
      /* not JSON: keep the text */
    }
    throw new ApiError(response.status, parsed.error_code ?? 'HTTP_' + response.status, parsed.message ?? (text || response.statusText));
  }
  return (text ? JSON.parse(text) : {}) as T;
}

const q = (params: Record<string, string | number | string[] | undefined>): string => {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach((item) => search.append(k, item));
    else search.set(k, String(v));
  }
  return search.toString();
};
const enc = encodeURIComponent;

export const api = {
  experiments: (signal?: AbortSignal) =>
    call<SearchExperimentsResponse>('POST', '/2.0/mlflow/experiments/search', { max_results: 1000, order_by: ['name ASC'] }, signal).then((r) => r.experiments ?? []),
  experiment: (id: string) => call<{ experiment: ExperimentJson }>('GET', `/2.0/mlflow/experiments/get?${q({ experiment_id: id })}`).then((r) => r.experiment),

  searchTraces: (body: { experimentId: string; filter: string; orderBy: string[]; maxResults: number; pageToken?: string }, signal?: AbortSignal) =>
    call<SearchTracesV3Response>(
      'POST',
      '/3.0/mlflow/traces/search',
      {
        locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: body.experimentId } }],
        filter: body.filter,
        order_by: body.orderBy,
        max_results: body.maxResults,
        ...(body.pageToken ? { page_token: body.pageToken } : {}),
      },
      signal,
    ),
  trace: (traceId: string, signal?: AbortSignal) => call<GetTraceResponse>('GET', `/3.0/mlflow/traces/get?${q({ trace_id: traceId })}`, undefined, signal).then((r) => ({ ...r.trace, spans: (r.trace.spans ?? []).map(normalizeSpan) })),
  traces: (traceIds: string[], signal?: AbortSignal) =>
    call<BatchGetTracesResponse>('GET', `/3.0/mlflow/traces/batchGet?${q({ trace_ids: traceIds })}`, undefined, signal).then((r) => (r.traces ?? []).map((t) => ({ ...t, spans: (t.spans ?? []).map(normalizeSpan) }))),
  setTag: (traceId: string, key: string, value: string) => call<unknown>('PATCH', `/3.0/mlflow/traces/${enc(traceId)}/tags`, { key, value }),
  deleteTag: (traceId: string, key: string) => call<unknown>('DELETE', `/3.0/mlflow/traces/${enc(traceId)}/tags?${q({ key })}`),
  deleteTraces: (experimentId: string, traceIds: string[]) =>
    call<{ traces_deleted: number }>('POST', '/3.0/mlflow/traces/delete-traces', { experiment_id: experimentId, request_ids: traceIds }),

  searchSessions: (body: { experimentId: string; filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }, signal?: AbortSignal) =>
    call<SearchSessionsResponse>('POST', '/threadline/sessions/search', rollupBody(body), signal),
  sessionTraces: (experimentId: string, sessionId: string, pageToken: string | undefined, maxResults: number, signal?: AbortSignal) =>
    call<SessionTracesResponse>('GET', `/threadline/sessions/${enc(sessionId)}/traces?${q({ experiment_id: experimentId, max_results: maxResults, page_token: pageToken })}`, undefined, signal),
  searchUsers: (body: { experimentId: string; filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }, signal?: AbortSignal) =>
    call<SearchUsersResponse>('POST', '/threadline/users/search', rollupBody(body), signal),
  metrics: (body: TraceMetricsRequest, signal?: AbortSignal) => call<TraceMetricsResponse>('POST', '/threadline/traces/metrics', body, signal),
};

function rollupBody(body: { experimentId: string; filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }) {
  return {
    experiment_id: body.experimentId,
    ...(body.filter ? { filter: body.filter } : {}),
    ...(body.orderBy ? { order_by: body.orderBy } : {}),
    max_results: body.maxResults ?? 100,
    ...(body.pageToken ? { page_token: body.pageToken } : {}),
  };
}
