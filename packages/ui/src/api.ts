import type {
  AssessmentJson,
  AssessmentResponse,
  ErrorBody,
  ErasureJson,
  ExperimentJson,
  FeedbackMetricsRequest,
  FeedbackMetricsResponse,
  FilterLanguage,
  FilterSuggestionsJson,
  FilterValueKind,
  FilterValuesJson,
  GetTraceResponse,
  ModelMetricsRequest,
  ModelMetricsResponse,
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

/**
 * The signed-in session, as far as requests need it: the CSRF token that every change made with
 * the session cookie must carry, and who to tell when the server says the caller is signed out.
 * Set by `session.ts`; while auth is off both stay unset and requests go out as before.
 */
let csrfToken: string | undefined;
let onUnauthenticated: (() => void) | undefined;

/** Remembers the session's CSRF token (from `me` or sign-in); undefined when signed out. */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Registers what to do when any API call answers 401: show the sign-in page. */
export function setUnauthenticatedHandler(handler: (() => void) | undefined): void {
  onUnauthenticated = handler;
}

/**
 * No answer at all: the server is down, unreachable or cut off by the network. Retried like a 5xx
 * (it has no status); shown as such rather than as an empty result.
 */
export class UnreachableError extends Error {
  constructor(cause: unknown) {
    super(`Could not reach the Threadline server (${cause instanceof Error ? cause.message : String(cause)}).`, { cause });
    this.name = 'UnreachableError';
  }
}

const LOGIN_PATH = '/threadline/auth/login';

async function call<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  // The cookie alone proves nothing about which page sent a change; the token, readable only by
  // this origin's scripts, does.
  const session = csrfToken;
  if (method !== 'GET' && session !== undefined) headers['x-csrf-token'] = session;
  let response: Response;
  try {
    response = await fetch(PREFIX + path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
  } catch (e) {
    // A cancelled request is the caller's doing, not the server's.
    if (signal?.aborted) throw e;
    throw new UnreachableError(e);
  }
  const text = await response.text();
  if (!response.ok) {
    let parsed: Partial<ErrorBody> = {};
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {
      /* not JSON: keep the text */
    }
    // A wrong password is the sign-in page's own error, not a sign that the session ended; nor is
    // a late answer to a request sent before the latest sign-in or sign-out.
    if (response.status === 401 && path !== LOGIN_PATH && session === csrfToken) onUnauthenticated?.();
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

/** The address of an experiment's live change stream (server-sent events; see live.ts), optionally of one session. */
export function eventsUrl(experimentId: string, sessionId?: string): string {
  return `${PREFIX}/threadline/experiments/${enc(experimentId)}/events${sessionId !== undefined ? `?${q({ session_id: sessionId })}` : ''}`;
}

export const api = {
  experiments: (signal?: AbortSignal) =>
    call<SearchExperimentsResponse>('POST', '/2.0/mlflow/experiments/search', { max_results: 1000, order_by: ['name ASC'] }, signal).then((r) => r.experiments ?? []),
  experiment: (id: string, signal?: AbortSignal) => call<{ experiment: ExperimentJson }>('GET', `/2.0/mlflow/experiments/get?${q({ experiment_id: id })}`, undefined, signal).then((r) => r.experiment),

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
  createAssessment: (traceId: string, assessment: AssessmentJson) =>
    call<AssessmentResponse>('POST', `/3.0/mlflow/traces/${enc(traceId)}/assessments`, { assessment }).then((r) => r.assessment),
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
  /** What a filter box offers while a filter is typed: the language's fields, tag and metadata keys in use. */
  filterSuggestions: (experimentId: string, language: FilterLanguage, signal?: AbortSignal) =>
    call<FilterSuggestionsJson>('GET', `/threadline/experiments/${enc(experimentId)}/filter-suggestions?${q({ language })}`, undefined, signal),
  /** The experiment's user or session ids that begin with `prefix`. */
  filterValues: (experimentId: string, of: FilterValueKind, prefix: string, signal?: AbortSignal) =>
    call<FilterValuesJson>('GET', `/threadline/experiments/${enc(experimentId)}/filter-suggestions/values?${q({ of, prefix })}`, undefined, signal).then((r) => r.values ?? []),
  metrics: (body: TraceMetricsRequest, signal?: AbortSignal) => call<TraceMetricsResponse>('POST', '/threadline/traces/metrics', body, signal),
  feedbackMetrics: (body: FeedbackMetricsRequest, signal?: AbortSignal) => call<FeedbackMetricsResponse>('POST', '/threadline/feedback/metrics', body, signal),
  modelMetrics: (body: ModelMetricsRequest, signal?: AbortSignal) => call<ModelMetricsResponse>('POST', '/threadline/models/metrics', body, signal),

  me: (signal?: AbortSignal) => call<Me>('GET', '/threadline/auth/me', undefined, signal),
  login: (username: string, password: string) => call<Me>('POST', LOGIN_PATH, { username, password }),
  logout: () => call<unknown>('POST', '/threadline/auth/logout', {}),

  tokens: (signal?: AbortSignal) => call<{ tokens?: ApiToken[] }>('GET', '/threadline/tokens', undefined, signal).then((r) => r.tokens ?? []),
  createToken: (name: string) => call<CreatedToken>('POST', '/threadline/tokens', { name }),
  revokeToken: (tokenId: string) => call<unknown>('DELETE', `/threadline/tokens/${enc(tokenId)}`),

  accounts: (signal?: AbortSignal) => call<{ accounts?: AccountJson[] }>('GET', '/threadline/accounts', undefined, signal).then((r) => r.accounts ?? []),
  createAccount: (username: string, password: string) => call<unknown>('POST', '/2.0/mlflow/users/create', { username, password }),
  setAdmin: (username: string, isAdmin: boolean) => call<unknown>('PATCH', '/2.0/mlflow/users/update-admin', { username, is_admin: isAdmin }),
  deleteAccount: (username: string) => call<unknown>('DELETE', '/2.0/mlflow/users/delete', { username }),
  audit: (beforeEventId: number | undefined, maxResults: number, signal?: AbortSignal) =>
    call<{ events?: AuditEventJson[] }>('GET', `/threadline/audit?${q({ max_results: maxResults, before_event_id: beforeEventId })}`, undefined, signal).then((r) => r.events ?? []),

  permissions: (experimentId: string, signal?: AbortSignal) =>
    call<{ permissions?: ExperimentPermissionJson[] }>('GET', `/threadline/experiments/${enc(experimentId)}/permissions`, undefined, signal).then((r) => r.permissions ?? []),
  /** Grants (`create`) or changes (`update`) an account's permission on an experiment. */
  setPermission: (how: 'create' | 'update', experimentId: string, username: string, permission: Permission) =>
    call<unknown>(how === 'create' ? 'POST' : 'PATCH', `/2.0/mlflow/experiments/permissions/${how}`, { experiment_id: experimentId, username, permission }),
  deletePermission: (experimentId: string, username: string) => call<unknown>('DELETE', '/2.0/mlflow/experiments/permissions/delete', { experiment_id: experimentId, username }),
  setExperimentTag: (experimentId: string, key: string, value: string) => call<unknown>('POST', '/2.0/mlflow/experiments/set-experiment-tag', { experiment_id: experimentId, key, value }),
  deleteExperimentTag: (experimentId: string, key: string) => call<unknown>('POST', '/2.0/mlflow/experiments/delete-experiment-tag', { experiment_id: experimentId, key }),

  /**
   * Erases every trace of a user: in one experiment, or (`experimentId` undefined) in every one the
   * caller manages. Answers the receipt, which may still be `running` (HTTP 202): poll {@link api.erasure}.
   */
  eraseUser: (userId: string, experimentId: string | undefined) =>
    call<{ erasure: ErasureJson }>('POST', `/threadline/users/${enc(userId)}/erase`, experimentId === undefined ? {} : { experiment_id: experimentId }).then((r) => r.erasure),
  eraseSession: (sessionId: string, experimentId: string) =>
    call<{ erasure: ErasureJson }>('POST', `/threadline/sessions/${enc(sessionId)}/erase`, { experiment_id: experimentId }).then((r) => r.erasure),
  erasure: (erasureId: string, signal?: AbortSignal) => call<{ erasure: ErasureJson }>('GET', `/threadline/erasures/${enc(erasureId)}`, undefined, signal).then((r) => r.erasure),
  /** Receipts of the erases that touched the experiment, newest first. */
  erasures: (experimentId: string, maxResults: number, signal?: AbortSignal) =>
    call<{ erasures?: ErasureJson[] }>('GET', `/threadline/erasures?${q({ experiment_id: experimentId, max_results: maxResults })}`, undefined, signal).then((r) => r.erasures ?? []),
};

// The accounts API's shapes, as packages/server/src/http/auth/account-routes.ts answers them.

/** `GET /threadline/auth/me`: whether the server asks for accounts, and who this browser is. */
export interface Me {
  auth_enabled: boolean;
  signed_in: boolean;
  username?: string;
  is_admin?: boolean;
  /** Present when signed in with the session cookie: goes in `X-CSRF-Token` on every change. */
  csrf_token?: string;
}

export interface ApiToken {
  token_id: string;
  name: string;
  created_time_ms: number;
  last_used_time_ms: number | null;
  revoked_time_ms: number | null;
}

/** A new token: `token` is its secret, in this reply only. */
export interface CreatedToken extends ApiToken {
  token: string;
}

export interface AccountJson {
  username: string;
  is_admin: boolean;
  created_time_ms: number;
}

export interface AuditEventJson {
  event_id: number;
  time_ms: number;
  actor: string;
  action: string;
  target: string;
  details: Record<string, unknown>;
}

/** MLflow's experiment permissions, weakest first. */
export const PERMISSIONS = ['NO_PERMISSIONS', 'READ', 'USE', 'EDIT', 'MANAGE'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface ExperimentPermissionJson {
  username: string;
  permission: Permission;
}

function rollupBody(body: { experimentId: string; filter?: string; orderBy?: string[]; maxResults?: number; pageToken?: string }) {
  return {
    experiment_id: body.experimentId,
    ...(body.filter ? { filter: body.filter } : {}),
    ...(body.orderBy ? { order_by: body.orderBy } : {}),
    max_results: body.maxResults ?? 100,
    ...(body.pageToken ? { page_token: body.pageToken } : {}),
  };
}
