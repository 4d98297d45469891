import { ApiPath, type SearchUsersResponse, type UserJson } from '@threadline/protocol';
import { toUsd } from '../cost/units.js';
import type { FastifyInstance } from 'fastify';
import type { UserSummary } from '../query/index.js';
import type { RouteContext } from './app.js';
import { nextToken, registerRollupSearch } from './sessions.js';
import { feedbackSummariesJson } from '../query/feedback-summaries.js';

/** Threadline's users search over the `users` rollup; same request shape and errors as the sessions search. */
export function registerUserRoutes(app: FastifyInstance, { store, experiments }: RouteContext): void {
  registerRollupSearch(app, experiments, ApiPath.USERS_SEARCH, async (request): Promise<SearchUsersResponse> => {
    const page = await store.searchUsers(request);
    return { users: page.users.map(userJson), ...nextToken(page) };
  });
}

function userJson(u: UserSummary): UserJson {
  return {
    user_id: u.userId,
    experiment_id: u.experimentId,
    first_time_ms: u.firstTimeMs,
    last_time_ms: u.lastTimeMs,
    trace_count: u.traceCount,
    session_count: u.sessionCount,
    error_count: u.errorCount,
    input_tokens: u.inputTokens,
    output_tokens: u.outputTokens,
    total_tokens: u.totalTokens,
    cost: toUsd(u.costNanos),
    feedback: feedbackSummariesJson(u.feedback),
  };
}
