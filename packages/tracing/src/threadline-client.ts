import {
  ApiPath,
  DEFAULT_EXPERIMENT_ID,
  TRACE_DATA_FILE_NAME,
  TraceLocationType,
  TraceTagKey,
  type AssessmentJson,
  type AssessmentResponse,
  type ListAssessmentsResponse,
  type CreateAssessmentRequest,
  type CreateExperimentResponse,
  type SearchSessionsRequest,
  type SearchSessionsResponse,
  type SearchTracesV3Request,
  type SearchTracesV3Response,
  type SearchUsersRequest,
  type SearchUsersResponse,
  type SessionJson,
  type SessionTracesResponse,
  type SpanJson,
  type TraceInfoJson,
  type TraceInfoResponse,
  type UserJson,
} from '@threadline/protocol';
import {
  assessmentFromJson,
  assessmentUpdateJson,
  expectationJson,
  feedbackJson,
  type Assessment,
  type AssessmentChanges,
  type LogExpectationOptions,
  type LogFeedbackOptions,
  type OverrideFeedbackOptions,
} from './assessments.js';
import { parseSpanJsonText } from './json-text.js';
import { RestClient, type TrackingServerOptions } from './rest-client.js';
import { SpanData } from './span-data.js';
import type { Span } from './live-span.js';

/** A trace's info as the MLflow SDK's `TraceInfo` entity has it (camelCase; times in ms). */
export interface TraceInfo {
  traceId: string;
  clientRequestId?: string;
  traceLocation: { type: string; mlflowExperiment?: { experimentId: string } };
  /** Start of the trace, ms since the epoch. */
  requestTime: number;
  /** Duration, ms. */
  executionDuration?: number;
  state: string;
  requestPreview?: string;
  responsePreview?: string;
  traceMetadata: Record<string, string>;
  tags: Record<string, string>;
  assessments: unknown[];
}

export interface TraceData {
  spans: Span[];
}

/** A trace read back: info and spans. */
export interface Trace {
  info: TraceInfo;
  data: TraceData;
}

/** `new MlflowClient({ trackingUri, authProvider })` of the MLflow SDK: only its headers are used. */
export interface AuthProviderLike {
  getHeadersProvider(): () => Record<string, string> | Promise<Record<string, string>>;
}

export interface ThreadlineClientOptions extends Omit<TrackingServerOptions, 'requestTimeoutMillis'> {
  /** Experiment searched when a call names none. Default `"0"`. */
  experimentId?: string;
  /** The MLflow SDK's auth provider, for drop-in use. */
  authProvider?: AuthProviderLike;
  /** Per-request timeout, ms. Default 30 000. */
  requestTimeoutMillis?: number;
}

export interface SearchTracesOptions {
  /** Default: the client's experiment. */
  experimentIds?: string[];
  /** MLflow filter, e.g. ``metadata.`mlflow.trace.user` = 'user-123'``. */
  filter?: string;
  /** E.g. `['timestamp_ms DESC']` (the default). */
  orderBy?: string[];
  /** Default 100, at most 500. */
  maxResults?: number;
  pageToken?: string;
}

export interface SearchTracesResult {
  traces: TraceInfo[];
  nextPageToken?: string;
}

/**
 * Threadline's session rollup (protocol `SessionJson`, camelCase): a conversation's traces summed
 * up. Times in ms since the epoch.
 */
export interface SessionSummary {
  sessionId: string;
  experimentId: string;
  /** Sorted; at most 20 (`userCount` has the full number). */
  userIds: string[];
  userCount: number;
  traceCount: number;
  errorCount: number;
  firstTimeMs: number;
  lastTimeMs: number;
  /** From the first turn's start to the end of the turn that ended last. */
  durationMs: number;
  totalTokens: number;
  inputTokens: number;
  outputTokens: number;
  firstTraceId: string;
  firstRequestPreview: string | null;
  lastTraceId: string;
  lastResponsePreview: string | null;
}

/** Threadline's user rollup (protocol `UserJson`, camelCase). */
export interface UserSummary {
  userId: string;
  experimentId: string;
  firstTimeMs: number;
  lastTimeMs: number;
  traceCount: number;
  sessionCount: number;
  errorCount: number;
  totalTokens: number;
  inputTokens: number;
  outputTokens: number;
}

/** Options of `searchSessions` / `searchUsers`; the filter and order languages are in the server README. */
export interface SearchRollupsOptions {
  /** Default: the client's experiment. */
  experimentId?: string;
  /** E.g. `user = 'user-123' AND turns > 5`, or trace clauses such as `tags.env = 'prod'`. */
  filter?: string;
  /** E.g. `['last_time DESC']` (the default), `['traces DESC']`. */
  orderBy?: string[];
  /** Default 50, at most 500. */
  maxResults?: number;
  pageToken?: string;
}

/** Options of `getSessionTraces`. */
export interface GetSessionTracesOptions {
  /** Default: the client's experiment. */
  experimentId?: string;
  /** Default 100, at most 500. */
  maxResults?: number;
  pageToken?: string;
}

/** Threadline's endpoints are served under the same prefix as MLflow's. */
const API_PREFIX = '/api';

function sessionFromJson(s: SessionJson): SessionSummary {
  return {
    sessionId: s.session_id,
    experimentId: s.experiment_id,
    userIds: s.user_ids ?? [],
    userCount: s.user_count,
    traceCount: s.trace_count,
    errorCount: s.error_count,
    firstTimeMs: s.first_time_ms,
    lastTimeMs: s.last_time_ms,
    durationMs: s.duration_ms,
    totalTokens: s.total_tokens,
    inputTokens: s.input_tokens,
    outputTokens: s.output_tokens,
    firstTraceId: s.first_trace_id,
    firstRequestPreview: s.first_request_preview,
    lastTraceId: s.last_trace_id,
    lastResponsePreview: s.last_response_preview,
  };
}

function userFromJson(u: UserJson): UserSummary {
  return {
    userId: u.user_id,
    experimentId: u.experiment_id,
    firstTimeMs: u.first_time_ms,
    lastTimeMs: u.last_time_ms,
    traceCount: u.trace_count,
    sessionCount: u.session_count,
    errorCount: u.error_count,
    totalTokens: u.total_tokens,
    inputTokens: u.input_tokens,
    outputTokens: u.output_tokens,
  };
}

/** TraceInfoV3 JSON to the MLflow SDK's camelCase entity. */
export function traceInfoFromJson(json: TraceInfoJson): TraceInfo {
  const duration = json.execution_duration === undefined ? undefined : parseFloat(json.execution_duration.replace('s', '')) * 1000;
  const info: TraceInfo = {
    traceId: json.trace_id,
    traceLocation: {
      type: json.trace_location?.type ?? TraceLocationType.MLFLOW_EXPERIMENT,
      ...(json.trace_location?.mlflow_experiment !== undefined && { mlflowExperiment: { experimentId: json.trace_location.mlflow_experiment.experiment_id } }),
    },
    requestTime: json.request_time === undefined ? Date.now() : new Date(json.request_time).getTime(),
    state: json.state ?? 'STATE_UNSPECIFIED',
    traceMetadata: { ...json.trace_metadata },
    tags: { ...json.tags },
    assessments: json.assessments ?? [],
  };
  if (json.client_request_id !== undefined) info.clientRequestId = json.client_request_id;
  if (duration !== undefined && Number.isFinite(duration)) info.executionDuration = duration;
  if (json.request_preview !== undefined) info.requestPreview = json.request_preview;
  if (json.response_preview !== undefined) info.responsePreview = json.response_preview;
  return info;
}

/**
 * A client for the tracking server: reading traces back, searching them (also by user and session),
 * changing tags, managing experiments, and Threadline's sessions and users lists. The MLflow SDK's
 * `MlflowClient` methods keep their names and signatures (it is also exported as `MlflowClient`).
 * Unlike tracing, a client call is an explicit request: failures reject with a
 * `ThreadlineRequestError` carrying the HTTP status and MLflow error code.
 *
 * @example
 * const client = new ThreadlineClient({ trackingUri: 'http://127.0.0.1:5000', experimentId: '0' });
 * const { traces } = await client.searchTraces({
 *   filter: "metadata.`mlflow.trace.user` = 'user-123' AND metadata.`mlflow.trace.session` = 'session-abc-456'",
 * });
 */
export class ThreadlineClient {
  private readonly rest: RestClient;
  private readonly experimentId: string;

  constructor(options: ThreadlineClientOptions) {
    const headers = options.headers ?? (options.authProvider ? options.authProvider.getHeadersProvider() : undefined);
    this.rest = new RestClient({ ...options, requestTimeoutMillis: options.requestTimeoutMillis ?? 30_000, ...(headers !== undefined && { headers }) });
    this.experimentId = options.experimentId ?? DEFAULT_EXPERIMENT_ID;
  }

  /** The tracking URI (MLflow's `getHost()`). */
  getHost(): string {
    return this.rest.trackingUri;
  }

  /** `GET /api/3.0/mlflow/traces/{id}`. */
  async getTraceInfo(traceId: string): Promise<TraceInfo> {
    return traceInfoFromJson(await this.getTraceInfoJson(traceId));
  }

  /** The trace's info, then its spans from its artifact location (as the MLflow SDK reads them). */
  async getTrace(traceId: string): Promise<Trace> {
    const json = await this.getTraceInfoJson(traceId);
    const location = json.tags?.[TraceTagKey.ARTIFACT_LOCATION];
    let spans: SpanJson[] = [];
    if (location?.startsWith('mlflow-artifacts:')) {
      const path = `/api/2.0/mlflow-artifacts/artifacts/${new URL(location).pathname.replace(/^\/+/, '')}/${TRACE_DATA_FILE_NAME}`;
      spans = (parseSpanJsonText(await this.rest.requestText('GET', path)) as { spans?: SpanJson[] }).spans ?? [];
    }
    return { info: traceInfoFromJson(json), data: { spans: spans.map((span) => new SpanData(span)) } };
  }

  /** `POST /api/3.0/mlflow/traces/search`: filter, order and paging as in MLflow. */
  async searchTraces(options: SearchTracesOptions = {}): Promise<SearchTracesResult> {
    const body: SearchTracesV3Request = {
      locations: (options.experimentIds ?? [this.experimentId]).map((experimentId) => ({
        type: TraceLocationType.MLFLOW_EXPERIMENT,
        mlflow_experiment: { experiment_id: experimentId },
      })),
      ...(options.filter !== undefined && { filter: options.filter }),
      ...(options.orderBy !== undefined && { order_by: options.orderBy }),
      ...(options.maxResults !== undefined && { max_results: options.maxResults }),
      ...(options.pageToken !== undefined && { page_token: options.pageToken }),
    };
    const reply = await this.rest.request<SearchTracesV3Response>('POST', '/api/3.0/mlflow/traces/search', body);
    return { traces: (reply.traces ?? []).map(traceInfoFromJson), ...(reply.next_page_token ? { nextPageToken: reply.next_page_token } : {}) };
  }

  // ---- assessments: MLflow's API, POST/GET/PATCH/DELETE /api/3.0/mlflow/traces/{id}/assessments --

  /**
   * Logs feedback on a trace (or one of its spans): a value of any JSON type, or the error met
   * producing it. Throws a ThreadlineRequestError when the server refuses it.
   *
   * @example
   * await client.logFeedback(traceId, { name: 'user_satisfaction', value: false, source: { sourceType: 'HUMAN', sourceId: 'user-123' } });
   */
  async logFeedback(traceId: string, options: LogFeedbackOptions): Promise<Assessment> {
    return this.createAssessment(traceId, feedbackJson(traceId, options));
  }

  /** Logs what the trace should have produced (ground truth), e.g. `{ name: 'expected_answer', value: '42' }`. */
  async logExpectation(traceId: string, options: LogExpectationOptions): Promise<Assessment> {
    return this.createAssessment(traceId, expectationJson(traceId, options));
  }

  async getAssessment(traceId: string, assessmentId: string): Promise<Assessment> {
    return assessmentFromJson((await this.rest.request<AssessmentResponse>('GET', assessmentPath(traceId, assessmentId))).assessment);
  }

  /** Changes the given fields of an assessment (name, value, rationale; metadata is merged). */
  async updateAssessment(traceId: string, assessmentId: string, changes: AssessmentChanges): Promise<Assessment> {
    return assessmentFromJson((await this.rest.request<AssessmentResponse>('PATCH', assessmentPath(traceId, assessmentId), assessmentUpdateJson(changes))).assessment);
  }

  /**
   * Replaces a feedback with a corrected one, as MLflow's `override_feedback` does: a new feedback of
   * the same name that `overrides` the old one, which stays stored but is no longer valid.
   */
  async overrideFeedback(traceId: string, assessmentId: string, options: OverrideFeedbackOptions): Promise<Assessment> {
    const old = await this.getAssessment(traceId, assessmentId);
    return this.createAssessment(traceId, {
      ...feedbackJson(traceId, { ...options, name: old.name, ...(options.spanId ?? old.spanId ? { spanId: options.spanId ?? old.spanId } : {}) }),
      overrides: assessmentId,
    });
  }

  /**
   * Logs feedback on a whole conversation (Threadline's session assessments): stored on the
   * session, counted in its rollup and its users', and found by the sessions filter.
   *
   * @example
   * await client.logSessionFeedback('session-123', { name: 'resolved', value: true, source: { sourceType: 'HUMAN', sourceId: 'user-123' } });
   */
  async logSessionFeedback(sessionId: string, options: LogFeedbackOptions & { experimentId?: string }): Promise<Assessment> {
    const { trace_id: _trace, ...assessment } = feedbackJson('', options);
    const reply = await this.rest.request<AssessmentResponse>('POST', sessionAssessmentsPath(sessionId), { experiment_id: options.experimentId ?? this.experimentId, assessment });
    return assessmentFromJson(reply.assessment);
  }

  /** A session's own assessments, and those logged on its traces as the session's (MLflow's convention). */
  async getSessionAssessments(sessionId: string, options: { experimentId?: string } = {}): Promise<Assessment[]> {
    const query = new URLSearchParams({ experiment_id: options.experimentId ?? this.experimentId });
    const reply = await this.rest.request<ListAssessmentsResponse>('GET', `${sessionAssessmentsPath(sessionId)}?${query}`);
    return (reply.assessments ?? []).map(assessmentFromJson);
  }

  async deleteAssessment(traceId: string, assessmentId: string): Promise<void> {
    await this.rest.request('DELETE', assessmentPath(traceId, assessmentId));
  }

  private async createAssessment(traceId: string, assessment: AssessmentJson): Promise<Assessment> {
    const body: CreateAssessmentRequest = { assessment };
    return assessmentFromJson((await this.rest.request<AssessmentResponse>('POST', `/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}/assessments`, body)).assessment);
  }

  /** Sets a tag of a logged trace (tags stay editable; metadata does not). */
  async setTraceTag(traceId: string, key: string, value: string): Promise<void> {
    await this.rest.request('PATCH', `/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}/tags`, { key, value });
  }

  async deleteTraceTag(traceId: string, key: string): Promise<void> {
    await this.rest.request('DELETE', `/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}/tags`, { key });
  }

  /** Creates an experiment; resolves its id. `tags` go as a map, as the MLflow SDK sends them. */
  async createExperiment(name: string, artifactLocation?: string, tags?: Record<string, string>): Promise<string> {
    const reply = await this.rest.request<CreateExperimentResponse>('POST', '/api/2.0/mlflow/experiments/create', {
      name,
      ...(artifactLocation !== undefined && { artifact_location: artifactLocation }),
      ...(tags !== undefined && { tags }),
    });
    return reply.experiment_id;
  }

  async deleteExperiment(experimentId: string): Promise<void> {
    await this.rest.request('POST', '/api/2.0/mlflow/experiments/delete', { experiment_id: experimentId });
  }

  /**
   * Sessions (conversations) of an experiment with their rollups, newest activity first:
   * `POST /api/threadline/sessions/search`.
   *
   * @example
   * const { sessions } = await client.searchSessions({ filter: "user = 'user-123' AND turns > 5", maxResults: 20 });
   */
  async searchSessions(options: SearchRollupsOptions = {}): Promise<{ sessions: SessionSummary[]; nextPageToken?: string }> {
    const body: SearchSessionsRequest = this.rollupRequest(options);
    const reply = await this.rest.request<Partial<SearchSessionsResponse>>('POST', API_PREFIX + ApiPath.SESSIONS_SEARCH, body);
    return { sessions: (reply.sessions ?? []).map(sessionFromJson), ...(reply.next_page_token ? { nextPageToken: reply.next_page_token } : {}) };
  }

  /**
   * A session's traces (its turns), oldest first: `GET /api/threadline/sessions/{id}/traces`.
   * Rejects with status 404 when the experiment has no such session.
   *
   * @example
   * const { traces } = await client.getSessionTraces('session-abc-456', { maxResults: 100 });
   */
  async getSessionTraces(sessionId: string, options: GetSessionTracesOptions = {}): Promise<SearchTracesResult> {
    const path = API_PREFIX + ApiPath.SESSION_TRACES.replace('{session_id}', encodeURIComponent(sessionId));
    const reply = await this.rest.request<Partial<SessionTracesResponse>>('GET', path, undefined, {
      experiment_id: options.experimentId ?? this.experimentId,
      max_results: options.maxResults === undefined ? undefined : String(options.maxResults),
      page_token: options.pageToken,
    });
    return { traces: (reply.traces ?? []).map(traceInfoFromJson), ...(reply.next_page_token ? { nextPageToken: reply.next_page_token } : {}) };
  }

  /**
   * Users of an experiment with their rollups, newest activity first: `POST /api/threadline/users/search`.
   *
   * @example
   * const { users } = await client.searchUsers({ orderBy: ['traces DESC'], maxResults: 10 });
   */
  async searchUsers(options: SearchRollupsOptions = {}): Promise<{ users: UserSummary[]; nextPageToken?: string }> {
    const body: SearchUsersRequest = this.rollupRequest(options);
    const reply = await this.rest.request<Partial<SearchUsersResponse>>('POST', API_PREFIX + ApiPath.USERS_SEARCH, body);
    return { users: (reply.users ?? []).map(userFromJson), ...(reply.next_page_token ? { nextPageToken: reply.next_page_token } : {}) };
  }

  private rollupRequest(options: SearchRollupsOptions): SearchSessionsRequest & SearchUsersRequest {
    return {
      experiment_id: options.experimentId ?? this.experimentId,
      ...(options.filter !== undefined && { filter: options.filter }),
      ...(options.orderBy !== undefined && { order_by: options.orderBy }),
      ...(options.maxResults !== undefined && { max_results: options.maxResults }),
      ...(options.pageToken !== undefined && { page_token: options.pageToken }),
    };
  }

  private async getTraceInfoJson(traceId: string): Promise<TraceInfoJson> {
    const reply = await this.rest.request<TraceInfoResponse>('GET', `/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}`);
    if (reply?.trace?.trace_info === undefined) throw new Error(`Invalid response format: no trace.trace_info for ${traceId}`);
    return reply.trace.trace_info;
  }
}

function sessionAssessmentsPath(sessionId: string): string {
  return `/api/threadline/sessions/${encodeURIComponent(sessionId)}/assessments`;
}

function assessmentPath(traceId: string, assessmentId: string): string {
  return `/api/3.0/mlflow/traces/${encodeURIComponent(traceId)}/assessments/${encodeURIComponent(assessmentId)}`;
}
