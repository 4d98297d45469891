import { beforeAll, describe, expect, it } from 'vitest';
import type { SearchSessionsResponse, SearchUsersResponse, SessionJson, SessionTracesResponse } from '@threadline/protocol';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody, tracesJsonPath, tracesJsonText } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

interface Turn {
  session?: string;
  user?: string;
  env: string;
  state: 'OK' | 'ERROR';
  tokens: number;
  /** Seconds after T0. */
  at: number;
}

/**
 * Four sessions: s1 (u1, u1, u2; one error on a dev turn), s2 (u2 twice, logged newest first),
 * s3 (u3, one prod error), s4 (no user); and one u1 trace outside any session.
 */
const TURNS: Turn[] = [
  { session: 's1', user: 'u1', env: 'prod', state: 'OK', tokens: 10, at: 0 },
  { session: 's1', user: 'u1', env: 'dev', state: 'ERROR', tokens: 20, at: 1 },
  { session: 's1', user: 'u2', env: 'prod', state: 'OK', tokens: 30, at: 2 },
  { session: 's2', user: 'u2', env: 'dev', state: 'OK', tokens: 5, at: 4 },
  { session: 's2', user: 'u2', env: 'dev', state: 'OK', tokens: 5, at: 3 },
  { session: 's3', user: 'u3', env: 'prod', state: 'ERROR', tokens: 1, at: 5 },
  { session: 's4', env: 'prod', state: 'OK', tokens: 0, at: 6 },
  { user: 'u1', env: 'prod', state: 'OK', tokens: 2, at: 7 },
];

describeEachDatabase('sessions and users over REST', (database) => {
  const t = useTestApp(database);
  let experimentId: string;
  const ids: string[] = [];

  beforeAll(async () => {
    experimentId = (await t.post('/api/2.0/mlflow/experiments/create', { name: 'sessions' })).json().experiment_id;
    for (const [i, turn] of TURNS.entries()) {
      const id = newTraceId();
      ids.push(id);
      const res = await t.post(
        '/api/3.0/mlflow/traces',
        startTraceBody({
          traceId: id,
          experimentId,
          ...(turn.user !== undefined ? { user: turn.user } : {}),
          ...(turn.session !== undefined ? { session: turn.session } : {}),
          state: turn.state,
          tags: { env: turn.env },
          metadata: { 'mlflow.trace.tokenUsage': JSON.stringify({ input_tokens: turn.tokens, output_tokens: 0, total_tokens: turn.tokens }) },
          requestTime: new Date(T0 + turn.at * 1000).toISOString(),
          executionDuration: '0.500s',
          requestPreview: `question ${i}`,
          responsePreview: `answer ${i}`,
        }),
      );
      expect(res.statusCode).toBe(200);
    }
    // Spans for the first turn only: a CHAIN root and an LLM child named "inner".
    const put = await t.app.inject({ method: 'PUT', url: tracesJsonPath(ids[0]!, experimentId), payload: tracesJsonText(ids[0]!) });
    expect(put.statusCode).toBe(200);
  });

  const searchSessions = (body: Record<string, unknown>) => t.post('/api/threadline/sessions/search', { experiment_id: experimentId, ...body });
  const searchUsers = (body: Record<string, unknown>) => t.post('/ajax-api/threadline/users/search', { experiment_id: experimentId, ...body });
  const sessionIds = async (body: Record<string, unknown>) => {
    const res = await searchSessions(body);
    expect(res.statusCode, res.body).toBe(200);
    return (res.json() as SearchSessionsResponse).sessions.map((s) => s.session_id);
  };
  const userIds = async (body: Record<string, unknown>) => {
    const res = await searchUsers(body);
    expect(res.statusCode, res.body).toBe(200);
    return (res.json() as SearchUsersResponse).users.map((u) => u.user_id);
  };

  it('lists sessions newest first with their rollup numbers exactly', async () => {
    const res = await searchSessions({});
    expect(res.statusCode).toBe(200);
    const body = res.json() as SearchSessionsResponse;
    expect(body.sessions.map((s) => s.session_id)).toEqual(['s4', 's3', 's2', 's1']);
    expect(body.next_page_token).toBeUndefined();
    const s1 = body.sessions.find((s) => s.session_id === 's1');
    expect(s1).toEqual<SessionJson>({
      session_id: 's1',
      experiment_id: experimentId,
      user_ids: ['u1', 'u2'],
      user_count: 2,
      trace_count: 3,
      error_count: 1,
      first_time_ms: T0,
      last_time_ms: T0 + 2000,
      duration_ms: 2500,
      input_tokens: 60,
      output_tokens: 0,
      total_tokens: 60,
      cost: 0,
      first_trace_id: ids[0]!,
      first_request_preview: 'question 0',
      last_trace_id: ids[2]!,
      last_response_preview: 'answer 2',
      feedback: {},
    });
    const s2 = body.sessions.find((s) => s.session_id === 's2')!;
    expect([s2.first_trace_id, s2.last_trace_id, s2.first_time_ms, s2.duration_ms]).toEqual([ids[4], ids[3], T0 + 3000, 1500]);
    expect(body.sessions.find((s) => s.session_id === 's4')).toMatchObject({ user_ids: [], user_count: 0, trace_count: 1 });
  });

  it.each([
    ['turns >= 2', ['s2', 's1']],
    ['session.turns = 1', ['s4', 's3']],
    ["session_id IN ('s1', 's3')", ['s3', 's1']],
    ["session_id LIKE 's%' AND errors > 0", ['s3', 's1']],
    ["user = 'u2'", ['s2', 's1']],
    ["user != 'u1'", ['s3', 's2', 's1']],
    ["NOT user = 'u1'", ['s4', 's3', 's2']],
    ["user IN ('u3', 'u9')", ['s3']],
    [`last_time >= ${T0 + 4000}`, ['s4', 's3', 's2']],
    [`first_time < ${T0 + 1000}`, ['s1']],
    ['duration_ms > 2000', ['s1']],
    ['total_tokens > 10 OR users = 0', ['s4', 's1']],
    ["tags.env = 'dev'", ['s2', 's1']],
    // One turn must be both prod and an error: s1 has each, on different turns.
    ["tags.env = 'prod' AND trace.status = 'ERROR'", ['s3']],
    ["trace.status = 'ERROR' AND tags.env = 'prod' AND turns = 1", ['s3']],
    // NOT and OR combine over sessions: no turn failed; some turn is dev or some turn failed.
    ["tags.env = 'prod' AND NOT trace.status = 'ERROR'", ['s4']],
    ["tags.env = 'dev' OR trace.status = 'ERROR'", ['s3', 's2', 's1']],
    ["metadata.`mlflow.trace.user` = 'u1' AND tags.env = 'dev'", ['s1']],
    ["(user = 'u2' OR user = 'u3') AND NOT tags.env = 'dev'", ['s3']],
    ["span.type = 'LLM' AND span.name = 'inner' AND tags.env = 'prod'", ['s1']],
    ["span.type = 'LLM' AND tags.env = 'dev'", []],
  ])('filters sessions: %s', async (filter, expected) => {
    expect(await sessionIds({ filter })).toEqual(expected);
  });

  it.each([
    [['turns DESC'], ['s1', 's2', 's4', 's3']],
    [['turns ASC', 'session_id DESC'], ['s4', 's3', 's2', 's1']],
    [['first_time'], ['s1', 's2', 's3', 's4']],
    [['errors DESC', 'session_id'], ['s1', 's3', 's2', 's4']],
    [['total_tokens DESC'], ['s1', 's2', 's3', 's4']],
    [['duration_ms DESC'], ['s1', 's2', 's4', 's3']],
    [['session_id DESC'], ['s4', 's3', 's2', 's1']],
    [['last_time ASC'], ['s1', 's2', 's3', 's4']],
  ])('orders sessions by %j', async (order_by, expected) => {
    expect(await sessionIds({ order_by })).toEqual(expected);
  });

  it('pages sessions one at a time with no gap or repeat, the token bound to its query', async () => {
    for (const order_by of [undefined, ['turns DESC'], ['session_id ASC']]) {
      const all = await sessionIds(order_by ? { order_by } : {});
      const seen: string[] = [];
      let token: string | undefined;
      for (let i = 0; i < 10; i++) {
        const res = await searchSessions({ max_results: 1, ...(order_by ? { order_by } : {}), ...(token ? { page_token: token } : {}) });
        const body = res.json() as SearchSessionsResponse;
        seen.push(...body.sessions.map((s) => s.session_id));
        token = body.next_page_token;
        if (!token) break;
      }
      expect(seen).toEqual(all);
    }
    const first = (await searchSessions({ max_results: 1 })).json() as SearchSessionsResponse;
    const other = await searchSessions({ max_results: 1, filter: 'turns > 0', page_token: first.next_page_token });
    expect(other.statusCode).toBe(400);
    expect(other.json().message).toContain('page token');
    const asUsers = await searchUsers({ max_results: 1, page_token: first.next_page_token });
    expect(asUsers.statusCode).toBe(400);
  });

  it("serves a session's turns oldest first, paged, as TraceInfoV3", async () => {
    const url = (session: string, query = '') => `/api/threadline/sessions/${encodeURIComponent(session)}/traces?experiment_id=${experimentId}${query}`;
    const all = (await t.get(url('s2'))).json() as SessionTracesResponse;
    expect(all.traces.map((tr) => tr.trace_id)).toEqual([ids[4], ids[3]]);
    expect(all.traces[0]!.tags!['mlflow.artifactLocation']).toContain(`/traces/${ids[4]}/artifacts`);
    expect(all.traces[0]!.trace_metadata!['mlflow.trace.session']).toBe('s2');

    const first = (await t.get(url('s1', '&max_results=2'))).json() as SessionTracesResponse;
    expect(first.traces.map((tr) => tr.trace_id)).toEqual([ids[0], ids[1]]);
    const second = (await t.get(url('s1', `&max_results=2&page_token=${first.next_page_token}`))).json() as SessionTracesResponse;
    expect(second.traces.map((tr) => tr.trace_id)).toEqual([ids[2]]);
    expect(second.next_page_token).toBeUndefined();

    const wrongSession = await t.get(url('s2', `&max_results=2&page_token=${first.next_page_token}`));
    expect(wrongSession.statusCode).toBe(400);
    expect((await t.get(url('nope'))).statusCode).toBe(404);
    expect((await t.get(`/api/threadline/sessions/s1/traces?experiment_id=999999`)).statusCode).toBe(404);
    expect((await t.get(`/api/threadline/sessions/s1/traces`)).statusCode).toBe(400);
    expect((await t.get(url('s1', '&max_results=501'))).statusCode).toBe(400);
  });

  it('lists users with their rollup numbers, filtered and ordered', async () => {
    const res = await searchUsers({});
    expect(res.statusCode).toBe(200);
    const body = res.json() as SearchUsersResponse;
    expect(body.users.map((u) => u.user_id)).toEqual(['u1', 'u3', 'u2']);
    expect(body.users[0]).toEqual({
      user_id: 'u1',
      experiment_id: experimentId,
      first_time_ms: T0,
      last_time_ms: T0 + 7000,
      trace_count: 3,
      session_count: 1,
      error_count: 1,
      input_tokens: 32,
      output_tokens: 0,
      total_tokens: 32,
      cost: 0,
      feedback: {},
    });
    expect(body.users[2]).toMatchObject({ user_id: 'u2', trace_count: 3, session_count: 2, error_count: 0, total_tokens: 40 });
    expect(await userIds({ order_by: ['traces DESC'] })).toEqual(['u1', 'u2', 'u3']);
    expect(await userIds({ order_by: ['sessions DESC', 'user_id'] })).toEqual(['u2', 'u1', 'u3']);
    expect(await userIds({ filter: 'traces >= 3' })).toEqual(['u1', 'u2']);
    expect(await userIds({ filter: 'user.sessions > 1' })).toEqual(['u2']);
    expect(await userIds({ filter: "user_id RLIKE '^u[12]$' AND errors = 0" })).toEqual(['u2']);
    expect(await userIds({ filter: "tags.env = 'prod' AND trace.status = 'ERROR'" })).toEqual(['u3']);
    expect(await userIds({ filter: "NOT trace.status = 'ERROR'" })).toEqual(['u2']);
    expect(await userIds({ filter: "metadata.`mlflow.trace.session` = 's1' OR tags.env = 'dev'" })).toEqual(['u1', 'u2']);
    const paged = (await searchUsers({ max_results: 2, order_by: ['traces DESC'] })).json() as SearchUsersResponse;
    const rest = (await searchUsers({ max_results: 2, order_by: ['traces DESC'], page_token: paged.next_page_token })).json() as SearchUsersResponse;
    expect([...paged.users, ...rest.users].map((u) => u.user_id)).toEqual(['u1', 'u2', 'u3']);
  });

  describe('bad requests', () => {
    it.each([
      ['an unknown session field', { filter: "turnz > 1" }, "'turnz' at position 0"],
      ['a string compared with a number field', { filter: "turns > 'many'" }, "'many' at position 8"],
      ['an unquoted id', { filter: 'session_id = s1' }, "'s1' at position 13"],
      ['a comparator a field does not take', { filter: "user > 'u1'" }, "'>' at position 5"],
      ['a missing AND', { filter: "turns > 1 errors > 0" }, "'errors' at position 10"],
      ['an unknown prefix', { filter: "sesion.turns > 1" }, "'sesion.turns'"],
      ['an order by an unknown key', { order_by: ['user DESC'] }, "'user DESC'"],
      ['a key ordered twice', { order_by: ['turns', 'turns DESC'] }, 'second time'],
      ['max_results above 500', { max_results: 501 }, '501'],
      ['a garbled page token', { page_token: 'x!' }, 'page token'],
      ['a missing experiment id', { experiment_id: undefined }, 'experiment_id'],
    ])('%s is a 400 that names it', async (_what, body, needle) => {
      const res = await searchSessions(body);
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe('INVALID_PARAMETER_VALUE');
      expect(res.json().message).toContain(needle);
    });

    it('users: an unknown field and a session-only field are 400s', async () => {
      for (const filter of ["turns > 1", "user = 'u1'"]) {
        const res = await searchUsers({ filter });
        expect(res.statusCode).toBe(400);
        expect(res.json().message).toContain('position 0');
      }
      expect((await searchUsers({ order_by: ['turns'] })).statusCode).toBe(400);
    });

    it('an unknown experiment is a 404', async () => {
      expect((await searchSessions({ experiment_id: '999999' })).statusCode).toBe(404);
      expect((await searchUsers({ experiment_id: '999999' })).statusCode).toBe(404);
    });
  });
});
