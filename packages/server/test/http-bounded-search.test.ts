/**
 * Hostile searches found by testing as an operator (DESIGN.md §8, "bounded work everywhere"): each
 * is answered promptly with a 400 on both stores, refused before any SQL runs; the largest filters
 * still allowed run, so the limits sit below what either database refuses.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_FILTER_CLAUSES, MAX_FILTER_DEPTH, MAX_LIKE_PATTERN_LENGTH, MAX_LIST_VALUES } from '../src/query/limits.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

const orOf = (n: number) => Array.from({ length: n }, (_, i) => `tags.fruit = 'f${i}'`).join(' OR ');
const nested = (n: number) => `${'('.repeat(n)}tags.fruit = 'apple'${')'.repeat(n)}`;
const inList = (n: number) => `tags.fruit IN (${Array.from({ length: n }, (_, i) => `'f${i}'`).join(', ')})`;

describeEachDatabase('hostile filters are refused with a 400', (database) => {
  const t = useTestApp(database);
  let experimentId: string;
  let appleId: string;

  beforeAll(async () => {
    experimentId = (await t.post('/api/2.0/mlflow/experiments/create', { name: 'bounded' })).json().experiment_id;
    appleId = newTraceId();
    const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: appleId, experimentId, user: 'u-1', session: 's-1', tags: { fruit: 'apple' } }));
    expect(res.statusCode).toBe(200);
  });

  const endpoints = {
    traces: (filter: string) => t.post('/api/3.0/mlflow/traces/search', { experiment_ids: [experimentId], filter }),
    sessions: (filter: string) => t.post('/api/threadline/sessions/search', { experiment_id: experimentId, filter }),
    users: (filter: string) => t.post('/api/threadline/users/search', { experiment_id: experimentId, filter }),
  };

  describe.each(Object.keys(endpoints) as (keyof typeof endpoints)[])('%s search', (endpoint) => {
    it.each([
      ['a 20,000-term OR', () => orOf(20_000)],
      ['100,000 nested parentheses', () => nested(100_000)],
      ['10,000 nested parentheses (within the length limit)', () => nested(10_000)],
      ['10,000 nested NOTs', () => `${'NOT '.repeat(10_000)}tags.fruit = 'apple'`],
      ['a 50,000-value IN list', () => inList(50_000)],
      [`${MAX_FILTER_CLAUSES + 1} clauses`, () => orOf(MAX_FILTER_CLAUSES + 1)],
      [`${MAX_LIST_VALUES + 1} IN values`, () => inList(MAX_LIST_VALUES + 1)],
      ['a LIKE pattern past the length limit', () => `tags.fruit LIKE '%${'a%'.repeat(MAX_LIKE_PATTERN_LENGTH)}'`],
    ])('%s', async (_what, filter) => {
      const res = await endpoints[endpoint](filter());
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe('INVALID_PARAMETER_VALUE');
      // The message names the bound crossed: the request was refused before any SQL ran.
      expect(res.json().message).toMatch(/at most|longer than/);
    });

    it('runs the largest filters still allowed', async () => {
      const allowed = [
        `${orOf(MAX_FILTER_CLAUSES - 1)} OR tags.fruit = 'apple'`,
        nested(MAX_FILTER_DEPTH),
        `${inList(MAX_LIST_VALUES - 1).slice(0, -1)}, 'apple')`,
        `tags.fruit LIKE '${'%'.repeat(MAX_LIKE_PATTERN_LENGTH - 5)}apple'`,
      ];
      for (const filter of allowed) {
        const res = await endpoints[endpoint](filter);
        expect(res.statusCode, filter.slice(0, 60)).toBe(200);
        const body = res.json();
        const found = endpoint === 'traces' ? body.traces.map((x: { trace_id: string }) => x.trace_id) : endpoint === 'sessions' ? body.sessions.map((s: { session_id: string }) => s.session_id) : body.users.map((u: { user_id: string }) => u.user_id);
        expect(found, filter.slice(0, 60)).toEqual([endpoint === 'traces' ? appleId : endpoint === 'sessions' ? 's-1' : 'u-1']);
      }
    });
  });

  it('refuses order_by lists and experiment lists past their limits', async () => {
    const orderBy = await t.post('/api/3.0/mlflow/traces/search', { experiment_ids: [experimentId], order_by: Array.from({ length: 11 }, (_, i) => `tag.k${i}`) });
    expect(orderBy.statusCode).toBe(400);
    expect(orderBy.json().message).toContain('order_by');
    const sessions = await t.post('/api/threadline/sessions/search', { experiment_id: experimentId, order_by: Array.from({ length: 11 }, () => 'turns DESC') });
    expect(sessions.statusCode).toBe(400);
    const experiments = await t.post('/api/3.0/mlflow/traces/search', { experiment_ids: Array.from({ length: 40_000 }, (_, i) => String(i)) });
    expect(experiments.statusCode).toBe(400);
    expect(experiments.json().message).toContain('at most 1000');
  });
});
