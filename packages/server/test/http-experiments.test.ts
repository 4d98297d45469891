import { describe, expect, it } from 'vitest';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

describeEachDatabase('MLflow experiment API', (database) => {
  const t = useTestApp(database);
  const post = (url: string, payload: unknown) => t.post(`/api/2.0/mlflow/experiments/${url}`, payload);
  const get = (url: string) => t.get(`/api/2.0/mlflow/experiments/${url}`);
  const allExperiments = async () => (await post('search', { view_type: 'ALL', max_results: 1000 })).json().experiments;

  it('has experiment 0 named Default from the start', async () => {
    const res = await get('get?experiment_id=0');
    expect(res.statusCode).toBe(200);
    expect(res.json().experiment).toMatchObject({ experiment_id: '0', name: 'Default', artifact_location: 'mlflow-artifacts:/0', lifecycle_stage: 'active' });
  });

  it('creates with tags as a list (MLflow proto) or a map (TypeScript SDK)', async () => {
    const listed = await post('create', { name: 'with-list', tags: [{ key: 'team', value: 'a' }] });
    const mapped = await post('create', { name: 'with-map', tags: { team: 'b' } });
    expect(listed.statusCode).toBe(200);
    expect(mapped.statusCode).toBe(200);
    const id = mapped.json().experiment_id;
    expect(id).toMatch(/^\d+$/);
    const experiment = (await get(`get?experiment_id=${id}`)).json().experiment;
    expect(experiment.tags).toEqual([{ key: 'team', value: 'b' }]);
    expect(experiment.artifact_location).toBe(`mlflow-artifacts:/${id}`);
    expect((await get(`get?experiment_id=${listed.json().experiment_id}`)).json().experiment.tags).toEqual([{ key: 'team', value: 'a' }]);
  });

  it('keeps a given artifact location', async () => {
    const id = (await post('create', { name: 'located', artifact_location: 'mlflow-artifacts:/custom' })).json().experiment_id;
    expect((await get(`get?experiment_id=${id}`)).json().experiment.artifact_location).toBe('mlflow-artifacts:/custom');
  });

  it('gets by name, and answers 404 for an unknown name', async () => {
    expect((await get('get-by-name?experiment_name=with-map')).json().experiment.name).toBe('with-map');
    const missing = await get('get-by-name?experiment_name=nope');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('searches with paging and a name filter, by POST and by GET', async () => {
    for (let i = 0; i < 3; i++) await post('create', { name: `paged-${i}` });
    const first = (await post('search', { max_results: 2, filter: "name LIKE 'paged-%'" })).json();
    expect(first.experiments).toHaveLength(2);
    expect(first.next_page_token).toBeDefined();
    const second = (await post('search', { max_results: 2, filter: "name LIKE 'paged-%'", page_token: first.next_page_token })).json();
    const names = [...first.experiments, ...second.experiments].map((e: { name: string }) => e.name).sort();
    expect(names).toEqual(['paged-0', 'paged-1', 'paged-2']);
    const byGet = (await get(`search?filter=${encodeURIComponent("name = 'paged-1'")}`)).json();
    expect(byGet.experiments.map((e: { name: string }) => e.name)).toEqual(['paged-1']);
  });

  it('renames, deletes, restores, and hides deleted experiments from the default view', async () => {
    const id = (await post('create', { name: 'lifecycle' })).json().experiment_id;
    expect((await post('update', { experiment_id: id, new_name: 'lifecycle-2' })).statusCode).toBe(200);
    expect((await get(`get?experiment_id=${id}`)).json().experiment.name).toBe('lifecycle-2');
    expect((await post('delete', { experiment_id: id })).json()).toEqual({});
    expect((await get(`get?experiment_id=${id}`)).json().experiment.lifecycle_stage).toBe('deleted');
    const active = (await post('search', {})).json().experiments.map((e: { experiment_id: string }) => e.experiment_id);
    expect(active).not.toContain(id);
    const deleted = (await post('search', { view_type: 'DELETED_ONLY' })).json().experiments.map((e: { experiment_id: string }) => e.experiment_id);
    expect(deleted).toEqual([id]);
    expect((await post('restore', { experiment_id: id })).statusCode).toBe(200);
    expect((await get(`get?experiment_id=${id}`)).json().experiment.lifecycle_stage).toBe('active');
  });

  it('refuses traces logged into a deleted experiment', async () => {
    const id = (await post('create', { name: 'closed' })).json().experiment_id;
    await post('delete', { experiment_id: id });
    const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: newTraceId(), experimentId: id }));
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain('active');
  });

  it('sets and deletes experiment tags', async () => {
    const id = (await post('create', { name: 'tagged' })).json().experiment_id;
    await post('set-experiment-tag', { experiment_id: id, key: 'k', value: 'v1' });
    await post('set-experiment-tag', { experiment_id: id, key: 'k', value: 'v2' });
    expect((await get(`get?experiment_id=${id}`)).json().experiment.tags).toEqual([{ key: 'k', value: 'v2' }]);
    await post('delete-experiment-tag', { experiment_id: id, key: 'k' });
    expect((await get(`get?experiment_id=${id}`)).json().experiment.tags).toEqual([]);
  });

  describe('bad input changes nothing', () => {
    const cases: [string, string, unknown, number, string][] = [
      ['create without a name', 'create', {}, 400, 'INVALID_PARAMETER_VALUE'],
      ['create with a numeric name', 'create', { name: 5 }, 400, 'INVALID_PARAMETER_VALUE'],
      ['create with an existing name', 'create', { name: 'Default' }, 400, 'RESOURCE_ALREADY_EXISTS'],
      ['create with a tag value that is a number', 'create', { name: 'bad-tags', tags: { a: 1 } }, 400, 'INVALID_PARAMETER_VALUE'],
      ['create with tags that are a string', 'create', { name: 'bad-tags', tags: 'a=b' }, 400, 'INVALID_PARAMETER_VALUE'],
      ['update to a taken name', 'update', { experiment_id: '0', new_name: 'with-map' }, 400, 'RESOURCE_ALREADY_EXISTS'],
      ['update of an unknown experiment', 'update', { experiment_id: '99999', new_name: 'x' }, 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['delete of the default experiment', 'delete', { experiment_id: '0' }, 400, 'INVALID_PARAMETER_VALUE'],
      ['delete with a non-numeric id', 'delete', { experiment_id: 'abc' }, 400, 'INVALID_PARAMETER_VALUE'],
      ['restore of an unknown experiment', 'restore', { experiment_id: '99999' }, 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['search with max_results 0', 'search', { max_results: 0 }, 400, 'INVALID_PARAMETER_VALUE'],
      ['search with a string max_results', 'search', { max_results: 'ten' }, 400, 'INVALID_PARAMETER_VALUE'],
      ['search with an unknown view type', 'search', { view_type: 'SOME' }, 400, 'INVALID_PARAMETER_VALUE'],
      ['search with a bad page token', 'search', { page_token: 'not-a-token' }, 400, 'INVALID_PARAMETER_VALUE'],
      ['search with a filter it cannot read', 'search', { filter: 'tags.x = 1 OR' }, 400, 'INVALID_PARAMETER_VALUE'],
      ['set-experiment-tag without a key', 'set-experiment-tag', { experiment_id: '0', value: 'v' }, 400, 'INVALID_PARAMETER_VALUE'],
    ];
    it.each(cases)('%s', async (_name, path, body, status, code) => {
      const before = await allExperiments();
      const res = await post(path, body);
      expect(res.statusCode).toBe(status);
      expect(res.json()).toEqual({ error_code: code, message: expect.any(String) });
      expect(await allExperiments()).toEqual(before);
    });

    it('get with an unknown id answers 404', async () => {
      const res = await get('get?experiment_id=31337');
      expect(res.statusCode).toBe(404);
      expect(res.json().error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    });
  });
});
