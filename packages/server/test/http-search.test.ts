import { beforeAll, describe, expect, it } from 'vitest';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

const SEED_USER = "metadata.`mlflow.trace.user` = 'user-123'";
const SEED_SESSION = "metadata.`mlflow.trace.session` = 'session-abc-456'";
const SEED_BOTH = `${SEED_USER} AND ${SEED_SESSION}`;

describeEachDatabase('trace search over REST', (database) => {
  const t = useTestApp(database);
  const post = (url: string, payload: unknown) => t.post(url, payload);
  let experimentId: string;
  /** The traces logged, oldest first: [user, session, tag]. */
  const logged: { id: string; user: string; session: string; fruit: string }[] = [];

  beforeAll(async () => {
    experimentId = (await post('/api/2.0/mlflow/experiments/create', { name: 'search' })).json().experiment_id;
    const plan: [string, string, string][] = [
      ['user-123', 'session-abc-456', 'apple'],
      ['user-123', 'session-abc-456', 'pear'],
      ['user-123', 'session-other', 'apple'],
      ['user-999', 'session-abc-456', 'apple'],
      ['user-999', 'session-zzz', 'plum'],
    ];
    for (const [i, [user, session, fruit]] of plan.entries()) {
      const id = newTraceId();
      logged.push({ id, user, session, fruit });
      const res = await post(
        '/api/3.0/mlflow/traces',
        startTraceBody({ traceId: id, experimentId, user, session, tags: { fruit }, requestTime: new Date(Date.UTC(2026, 10, 23, 12, 0, i)).toISOString() }),
      );
      expect(res.statusCode).toBe(200);
    }
  });
  const search = (body: Record<string, unknown>) =>
    post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } }], ...body });
  const ids = (res: { json(): { traces: { trace_id: string }[] } }) => res.json().traces.map((t) => t.trace_id);
  const newestFirst = (pick: (t: (typeof logged)[number]) => boolean) => logged.filter(pick).map((t) => t.id).reverse();

  it.each([
    ['a user', SEED_USER, (t: (typeof logged)[number]) => t.user === 'user-123'],
    ['a session', SEED_SESSION, (t: (typeof logged)[number]) => t.session === 'session-abc-456'],
    ['a user within a session', SEED_BOTH, (t: (typeof logged)[number]) => t.user === 'user-123' && t.session === 'session-abc-456'],
  ])("finds %s's traces with the seed's filter, newest first", async (_what, filter, pick) => {
    const res = await search({ filter });
    expect(res.statusCode).toBe(200);
    expect(ids(res)).toEqual(newestFirst(pick));
    for (const info of res.json().traces) expect(info.tags['mlflow.artifactLocation']).toContain(`/traces/${info.trace_id}/artifacts`);
  });

  it('combines tag and metadata equality with AND', async () => {
    const res = await search({ filter: `tags.fruit = 'apple' AND ${SEED_SESSION}` });
    expect(ids(res)).toEqual(newestFirst((t) => t.fruit === 'apple' && t.session === 'session-abc-456'));
  });

  it('pages with max_results and page tokens, and orders on request', async () => {
    const first = await search({ max_results: 2 });
    expect(ids(first)).toEqual(newestFirst(() => true).slice(0, 2));
    const second = await search({ max_results: 2, page_token: first.json().next_page_token });
    expect(ids(second)).toEqual(newestFirst(() => true).slice(2, 4));
    const oldest = await search({ order_by: ['timestamp_ms ASC'], max_results: 1 });
    expect(ids(oldest)).toEqual([logged[0]!.id]);
  });

  it('accepts experiment_ids instead of locations, and the legacy V2 search', async () => {
    const v3 = await post('/api/3.0/mlflow/traces/search', { experiment_ids: [experimentId], filter: SEED_BOTH });
    expect(ids(v3)).toEqual(newestFirst((t) => t.user === 'user-123' && t.session === 'session-abc-456'));
    const v2 = await t.app.inject({ method: 'GET', url: `/api/2.0/mlflow/traces?experiment_ids=${experimentId}&filter=${encodeURIComponent(SEED_USER)}&max_results=2` });
    expect(v2.statusCode).toBe(200);
    expect(v2.json().traces.map((t: { request_id: string }) => t.request_id)).toEqual(newestFirst((t) => t.user === 'user-123').slice(0, 2));
    expect(v2.json().next_page_token).toBeDefined();
  });

  describe('bad searches are a 400 that says what is wrong', () => {
    it.each([
      ['max_results above 500', { max_results: 501 }, '501'],
      ['max_results of zero', { max_results: 0 }, 'max_results'],
      ['a filter that does not parse', { filter: "metadata.`mlflow.trace.user` = " }, ''],
      ['an unknown entity', { filter: "foo.bar = 'x'" }, 'foo'],
      ['an unknown order key', { order_by: ['client_request_id'] }, 'client_request_id'],
      ['a foreign page token', { page_token: 'bm90LWEtdG9rZW4=' }, 'page token'],
      ['locations that are not a list', { locations: 'exp' }, 'locations'],
    ])('%s', async (_name, body, mentions) => {
      const res = await search(body);
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe('INVALID_PARAMETER_VALUE');
      expect(res.json().message).toContain(mentions);
    });

    it('no experiment at all', async () => {
      const res = await post('/api/3.0/mlflow/traces/search', { filter: SEED_USER });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toContain('locations');
    });
  });
});
