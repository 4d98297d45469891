import { beforeAll, expect, it } from 'vitest';
import { assessmentClient, feedback } from './support/assessments.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

/**
 * The session and user languages reach the feedback rollups: `feedback.<name>.<stat>` in filters
 * and `order_by`, counting feedback on traces and on whole sessions, exact after overrides and
 * deletes of assessments and of traces.
 */
describeEachDatabase('feedback in the sessions and users searches', (database) => {
  const t = useTestApp(database);
  const traces = assessmentClient(t);
  let experiment = '';
  const turns = new Map<string, string>();

  const turn = async (session: string, user: string) => {
    const traceId = newTraceId();
    const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, experimentId: experiment, session, user }));
    expect(res.statusCode, res.body).toBe(200);
    turns.set(`${session} ${user}`, traceId);
    return traceId;
  };
  const rate = async (traceId: string, name: string, value: unknown, extra: Record<string, unknown> = {}) => {
    const res = await traces.create(traceId, feedback(name, value, extra));
    expect(res.statusCode, res.body).toBe(200);
    return res.json().assessment.assessment_id as string;
  };
  const sessions = async (filter: string, orderBy?: string[]) => {
    const res = await t.post('/api/threadline/sessions/search', { experiment_id: experiment, filter, ...(orderBy ? { order_by: orderBy } : {}) });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().sessions as { session_id: string }[]).map((s) => s.session_id);
  };
  /** Every user in `order_by` order, one per page, so that page tokens carry the fractional sort values. */
  const usersInOrder = async (orderBy: string[], filter?: string) => {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const res = await t.post('/api/threadline/users/search', { experiment_id: experiment, order_by: orderBy, max_results: 1, ...(filter ? { filter } : {}), ...(token ? { page_token: token } : {}) });
      expect(res.statusCode, res.body).toBe(200);
      out.push(...(res.json().users as { user_id: string }[]).map((u) => u.user_id));
      token = res.json().next_page_token;
    } while (token);
    return out;
  };

  beforeAll(async () => {
    experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: `feedback-${newTraceId()}` })).json().experiment_id;
    // s-a: u1 unhappy, u2 silent; scores 4 and 5. s-b: u1 happy on the turn, the session rated "no"
    // as a whole. s-c: u3's "no" overridden by true. s-d: no feedback.
    await rate(await turn('s-a', 'u1'), 'user_satisfaction', false);
    const silent = await turn('s-a', 'u2');
    await rate(silent, 'score', 4);
    await rate(silent, 'score', 5);
    await rate(await turn('s-b', 'u1'), 'user_satisfaction', true);
    const whole = await t.post('/api/threadline/sessions/s-b/assessments', { experiment_id: experiment, assessment: feedback('user_satisfaction', 'no') });
    expect(whole.statusCode, whole.body).toBe(200);
    const c = await turn('s-c', 'u3');
    const no = await rate(c, 'user_satisfaction', 'no');
    await rate(c, 'user_satisfaction', true, { overrides: no });
    const gone = await rate(c, 'user_satisfaction', false);
    expect((await traces.remove(c, gone)).statusCode).toBe(200);
    await turn('s-d', 'u3');
  });

  it('finds the sessions with negative feedback, on a turn or on the session itself', async () => {
    expect(await sessions('feedback.user_satisfaction.negative > 0', ['session_id ASC'])).toEqual(['s-a', 's-b']);
    expect(await sessions('NOT feedback.user_satisfaction.negative > 0', ['session_id ASC'])).toEqual(['s-c', 's-d']);
    expect(await sessions('session.feedback.user_satisfaction.count >= 2')).toEqual(['s-b']);
    expect(await sessions('feedback.user_satisfaction.positive = 1 AND feedback.user_satisfaction.negative = 0')).toEqual(['s-c']);
    expect(await sessions('feedback.score.mean = 4.5 AND feedback.score.sum = 9')).toEqual(['s-a']);
    expect(await sessions('feedback.user_satisfaction.negative_share >= 0.5', ['feedback.user_satisfaction.negative_share DESC', 'session_id ASC'])).toEqual(['s-a', 's-b']);
    // A quoted name is the trace clause on feedback of that name, as in the trace language.
    expect(await sessions("feedback.`user_satisfaction` = 'no'")).toEqual(['s-b']);
  });

  it('answers each session and user of a page with its feedback counts by name', async () => {
    const page = (await t.post('/api/threadline/sessions/search', { experiment_id: experiment, order_by: ['session_id ASC'] })).json().sessions as { session_id: string; feedback: Record<string, unknown> }[];
    expect(Object.fromEntries(page.map((s) => [s.session_id, s.feedback]))).toEqual({
      's-a': { score: { count: 2, positive: 0, negative: 0, numeric_count: 2, sum: 9 }, user_satisfaction: { count: 1, positive: 0, negative: 1, numeric_count: 0, sum: 0 } },
      's-b': { user_satisfaction: { count: 2, positive: 1, negative: 1, numeric_count: 0, sum: 0 } },
      's-c': { user_satisfaction: { count: 1, positive: 1, negative: 0, numeric_count: 0, sum: 0 } },
      's-d': {},
    });
    const users = (await t.post('/api/threadline/users/search', { experiment_id: experiment, order_by: ['user_id ASC'] })).json().users as { user_id: string; feedback: Record<string, { negative: number }> }[];
    expect(users.map((u) => [u.user_id, u.feedback.user_satisfaction?.negative ?? 0])).toEqual([
      ['u1', 2],
      ['u2', 0],
      ['u3', 0],
    ]);
  });

  it('orders users by their share of negative feedback, those without any last, page by page', async () => {
    // u1: false (s-a), true (s-b), and s-b's own "no": 2 of 3. u3: true only. u2: none.
    expect(await usersInOrder(['feedback.user_satisfaction.negative_share DESC'])).toEqual(['u1', 'u3', 'u2']);
    expect(await usersInOrder(['user.feedback.user_satisfaction.negative_share ASC'])).toEqual(['u3', 'u1', 'u2']);
    expect(await usersInOrder(['feedback.user_satisfaction.count DESC', 'user_id ASC'], 'feedback.user_satisfaction.negative_share > 0.66')).toEqual(['u1']);
  });

  it('stays exact when a trace is deleted', async () => {
    const res = await t.post('/api/3.0/mlflow/traces/delete-traces', { experiment_id: experiment, request_ids: [turns.get('s-a u1')] });
    expect(res.statusCode, res.body).toBe(200);
    expect(await sessions('feedback.user_satisfaction.negative > 0')).toEqual(['s-b']);
    // u1 now: true and s-b's "no": a half.
    expect(await usersInOrder(['user_id ASC'], 'feedback.user_satisfaction.negative_share = 0.5')).toEqual(['u1']);
  });

  it('refuses an order by feedback without a statistic, naming what it takes', async () => {
    const res = await t.post('/api/threadline/users/search', { experiment_id: experiment, order_by: ['feedback.user_satisfaction DESC'] });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/feedback\.<name>\.\{count,positive,negative/);
  });
});
