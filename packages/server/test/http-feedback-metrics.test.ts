import { beforeAll, expect, it } from 'vitest';
import { assessmentClient, feedback } from './support/assessments.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

const HOUR = 3_600_000;
/** A fixed day, so that hours and buckets are known: 2026-11-02T00:00Z. */
const DAY = Date.UTC(2026, 10, 2);
const at = (hour: number, minute = 0) => new Date(DAY + hour * HOUR + minute * 60_000).toISOString();

/**
 * `POST /api/threadline/feedback/metrics`: valid feedback per hour bucket and name from the hourly
 * rollup (overrides and deletes accounted), and per user or session over the range's traces.
 */
describeEachDatabase('feedback over time', (database) => {
  const t = useTestApp(database);
  const traces = assessmentClient(t);
  let experiment = '';

  const turn = async (session: string, user: string, hour: number) => {
    const traceId = newTraceId();
    const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, experimentId: experiment, session, user, requestTime: new Date(DAY + hour * HOUR).toISOString() }));
    expect(res.statusCode, res.body).toBe(200);
    return traceId;
  };
  const rate = async (traceId: string, name: string, value: unknown, createTime: string, extra: Record<string, unknown> = {}) => {
    const res = await traces.create(traceId, feedback(name, value, { create_time: createTime, ...extra }));
    expect(res.statusCode, res.body).toBe(200);
    return res.json().assessment.assessment_id as string;
  };
  const metrics = async (body: Record<string, unknown>) => {
    const res = await t.post('/api/threadline/feedback/metrics', { experiment_id: experiment, ...body });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  beforeAll(async () => {
    experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: `feedback-metrics-${newTraceId()}` })).json().experiment_id;
    // Hour 1: u1 says no, then a reviewer overrides it with yes; u2 says yes. Hour 2: u1 says no
    // (deleted later) and no again; a score of 4. Hour 5: the session s-b is rated "no" as a whole.
    const a1 = await turn('s-a', 'u1', 1);
    const no = await rate(a1, 'user_satisfaction', false, at(1, 10));
    await rate(a1, 'user_satisfaction', true, at(1, 20), { overrides: no });
    await rate(await turn('s-a', 'u2', 1), 'user_satisfaction', 'yes', at(1, 30));
    const b1 = await turn('s-b', 'u1', 2);
    const gone = await rate(b1, 'user_satisfaction', false, at(2, 5));
    expect((await traces.remove(b1, gone)).statusCode).toBe(200);
    await rate(b1, 'user_satisfaction', 'No', at(2, 6));
    await rate(b1, 'score', 4, at(2, 7));
    const whole = await t.post('/api/threadline/sessions/s-b/assessments', { experiment_id: experiment, assessment: feedback('user_satisfaction', 'no', { create_time: at(5) }) });
    expect(whole.statusCode, whole.body).toBe(200);
  });

  it('counts valid feedback per name in hourly buckets, busiest name first', async () => {
    const res = await metrics({ start_time_ms: DAY, end_time_ms: DAY + 6 * HOUR, bucket_ms: HOUR });
    expect(res.times_ms).toEqual([0, 1, 2, 3, 4, 5].map((h) => DAY + h * HOUR));
    expect(res.names.map((n: { name: string }) => n.name)).toEqual(['user_satisfaction', 'score']);
    const [satisfaction, score] = res.names;
    expect(satisfaction).toMatchObject({ count: 4, positive: 2, negative: 2 });
    expect(satisfaction.series.map((p: { positive: number; negative: number }) => [p.positive, p.negative])).toEqual([[0, 0], [2, 0], [0, 1], [0, 0], [0, 0], [0, 1]]);
    expect(score).toMatchObject({ count: 1, numeric_count: 1, numeric_sum: 4 });
  });

  it('widens a range and buckets to whole hours and says so', async () => {
    const res = await metrics({ start_time_ms: DAY + HOUR + 15 * 60_000, end_time_ms: DAY + 2 * HOUR + 1, bucket_ms: 60_000, names: ['user_satisfaction'] });
    expect(res).toMatchObject({ start_time_ms: DAY + HOUR, end_time_ms: DAY + 3 * HOUR, bucket_ms: HOUR });
    expect(res.names).toHaveLength(1);
    expect(res.names[0].series.map((p: { count: number }) => p.count)).toEqual([2, 1]);
    const twoHours = await metrics({ start_time_ms: DAY, end_time_ms: DAY + 6 * HOUR, bucket_ms: 2 * HOUR, names: ['user_satisfaction'] });
    expect(twoHours.names[0].series.map((p: { count: number }) => p.count)).toEqual([2, 1, 1]);
  });

  it('counts per user the feedback on their traces of the range, and per session its own too', async () => {
    const range = { start_time_ms: DAY, end_time_ms: DAY + 6 * HOUR };
    const byUser = await metrics({ ...range, group_by: 'user', group_keys: ['u1', 'u2', 'nobody'] });
    expect(byUser.groups).toEqual([
      { key: 'u1', names: [
        { name: 'score', count: 1, positive: 0, negative: 0, numeric_count: 1, numeric_sum: 4 },
        { name: 'user_satisfaction', count: 2, positive: 1, negative: 1, numeric_count: 0, numeric_sum: 0 },
      ] },
      { key: 'u2', names: [{ name: 'user_satisfaction', count: 1, positive: 1, negative: 0, numeric_count: 0, numeric_sum: 0 }] },
      { key: 'nobody', names: [] },
    ]);
    const bySession = await metrics({ ...range, group_by: 'session', group_keys: ['s-b'] });
    expect(bySession.groups[0].names.find((n: { name: string }) => n.name === 'user_satisfaction')).toMatchObject({ count: 2, negative: 2 });
    // Traces outside the range asked for do not count.
    const late = await metrics({ start_time_ms: DAY + 2 * HOUR, end_time_ms: DAY + 6 * HOUR, group_by: 'user', group_keys: ['u1', 'u2'] });
    expect(late.groups.map((g: { names: unknown[] }) => g.names.length)).toEqual([2, 0]);
  });

  it('refuses bad requests with MLflow error JSON', async () => {
    const bad = async (body: Record<string, unknown>, message: RegExp) => {
      const res = await t.post('/api/threadline/feedback/metrics', body);
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(message) });
    };
    await bad({ experiment_id: experiment, start_time_ms: DAY, end_time_ms: DAY - 1 }, /must be after/);
    await bad({ experiment_id: experiment, start_time_ms: DAY, end_time_ms: DAY + HOUR, group_keys: ['u1'] }, /needs 'group_by'/);
    await bad({ experiment_id: experiment, start_time_ms: DAY, end_time_ms: DAY + HOUR, group_by: 'user', group_keys: Array.from({ length: 51 }, (_, i) => `u${i}`) }, /at most 50/);
    await bad({ experiment_id: experiment, start_time_ms: 0, end_time_ms: DAY, bucket_ms: HOUR }, /more than 1000/);
    const missing = await t.post('/api/threadline/feedback/metrics', { experiment_id: '987654', start_time_ms: DAY, end_time_ms: DAY + HOUR });
    expect(missing.statusCode).toBe(404);
  });
});
