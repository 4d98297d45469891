import type { FilterFieldJson, FilterSuggestionsJson } from '@threadline/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { KEY_SAMPLE_TRACES, MAX_SUGGESTED_VALUES } from '../src/store/filter-suggestions.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

const T0 = Date.UTC(2026, 10, 20, 9);

/**
 * What the filter boxes offer while a filter is typed: each language's fields (every one accepted
 * by that language's search), the tag and metadata keys of the newest traces, and user and
 * session ids by prefix, on both databases.
 */
describeEachDatabase('filter suggestions', (database) => {
  const t = useTestApp(database);
  let experiment = '';

  const logTrace = async (o: { user?: string; session?: string; minute: number; tags?: Record<string, string>; metadata?: Record<string, string>; experimentId?: string }) => {
    const body = startTraceBody({
      traceId: newTraceId(),
      experimentId: o.experimentId ?? experiment,
      requestTime: new Date(T0 + o.minute * 60_000).toISOString(),
      ...(o.user !== undefined ? { user: o.user } : {}),
      ...(o.session !== undefined ? { session: o.session } : {}),
      ...(o.tags ? { tags: o.tags } : {}),
      ...(o.metadata ? { metadata: o.metadata } : {}),
    });
    const res = await t.post('/api/3.0/mlflow/traces', body);
    expect(res.statusCode, res.body).toBe(200);
  };
  const suggestions = async (language: string, experimentId = experiment): Promise<FilterSuggestionsJson> => {
    const res = await t.get(`/api/threadline/experiments/${experimentId}/filter-suggestions?language=${language}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const values = async (of: string, prefix?: string): Promise<string[]> => {
    const res = await t.get(`/api/threadline/experiments/${experiment}/filter-suggestions/values?of=${of}${prefix !== undefined ? `&prefix=${encodeURIComponent(prefix)}` : ''}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json().values;
  };

  beforeAll(async () => {
    experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: `suggest-${newTraceId()}` })).json().experiment_id;
    await logTrace({ user: 'alice', session: 'conv-a', minute: 0, tags: { env: 'prod', 'my-key': 'x' }, metadata: { 'app.version': '1.2' } });
    await logTrace({ user: 'alina', session: 'conv-b', minute: 1, tags: { env: 'staging', team: 'core' } });
    await logTrace({ user: 'bob', session: 'chat_1', minute: 2 });
    await logTrace({ user: 'a_b', session: 'chatX1', minute: 3 });
    await logTrace({ user: 'axb', minute: 4 });
    for (let i = 0; i < MAX_SUGGESTED_VALUES + 5; i++) await logTrace({ user: `u-${String(i).padStart(2, '0')}`, minute: 10 + i });
  });

  describe('fields', () => {
    const byName = (fields: FilterFieldJson[], name: string) => fields.find((f) => f.name === name);

    it("lists each language's fields with their comparators, tag and metadata prefixes, and where user and session ids go", async () => {
      const traces = (await suggestions('traces')).fields;
      expect(byName(traces, 'trace.status')?.operators).toEqual(expect.arrayContaining(['=', '!=', 'LIKE', 'IN']));
      expect(byName(traces, 'trace.text')?.operators).toContain('MATCH');
      expect(byName(traces, 'trace.cost')?.operators).toContain('>');
      expect(byName(traces, 'tag.')).toMatchObject({ keys: 'tag', aliases: ['tags.'] });
      expect(byName(traces, 'metadata.')).toMatchObject({ keys: 'metadata', aliases: ['request_metadata.'] });
      expect(byName(traces, 'metadata.`mlflow.trace.user`')?.values).toBe('user');
      expect(byName(traces, 'metadata.`mlflow.trace.session`')?.values).toBe('session');
      // An alias is listed once, under the name it stands for.
      expect(byName(traces, 'trace.timestamp')).toBeUndefined();
      expect(byName(traces, 'turns')).toBeUndefined();

      const sessions = (await suggestions('sessions')).fields;
      expect(sessions.slice(0, 2).map((f) => f.name)).toEqual(['session_id', 'turns']);
      expect(byName(sessions, 'session_id')?.values).toBe('session');
      expect(byName(sessions, 'user')?.values).toBe('user');
      expect(byName(sessions, 'turns')?.operators).toContain('>=');
      expect(byName(sessions, 'trace.text')?.operators).toContain('MATCH');

      const users = (await suggestions('users')).fields;
      expect(byName(users, 'user_id')?.values).toBe('user');
      expect(byName(users, 'sessions')).toBeDefined();
      expect(byName(users, 'turns')).toBeUndefined();
    });

    it("offers only names the language's own search accepts, with each of their comparators", async () => {
      const searchPath = { traces: '/api/3.0/mlflow/traces/search', sessions: '/api/threadline/sessions/search', users: '/api/threadline/users/search' };
      const failures: string[] = [];
      for (const language of ['traces', 'sessions', 'users'] as const) {
        for (const field of (await suggestions(language)).fields) {
          const name = field.name.endsWith('.') ? `${field.name}k` : field.name;
          for (const operator of field.operators) {
            // A quoted number compares with numeric fields too; a prompt is 'name/version'.
            const value = operator.startsWith('IS') ? '' : operator.endsWith('IN') ? "('1')" : field.name === 'trace.prompt' ? "'p/1'" : "'1'";
            const filter = `${name} ${operator} ${value}`.trim();
            const body = language === 'traces' ? { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experiment } }], filter } : { experiment_id: experiment, filter };
            const res = await t.post(searchPath[language], body);
            if (res.statusCode !== 200) failures.push(`${language}: ${filter}: ${res.body}`);
          }
        }
      }
      expect(failures).toEqual([]);
    });
  });

  describe('keys', () => {
    it('answers the tag and metadata keys of the traces, sorted', async () => {
      const { tag_keys: tags, metadata_keys: metadata } = await suggestions('traces');
      expect(tags).toEqual(expect.arrayContaining(['env', 'my-key', 'team', 'fruit']));
      expect(tags).toEqual([...tags].sort());
      expect(new Set(tags).size).toBe(tags.length);
      expect(metadata).toEqual(expect.arrayContaining(['app.version', 'mlflow.trace.user', 'mlflow.trace.session']));
      expect(metadata).toEqual([...metadata].sort());
    });

    it(`reads them from the ${KEY_SAMPLE_TRACES} newest traces only`, async () => {
      const other = (await t.post('/api/2.0/mlflow/experiments/create', { name: `keys-${newTraceId()}` })).json().experiment_id as string;
      await logTrace({ experimentId: other, minute: 0, tags: { ancient: 'yes' } });
      // As many newer traces as are read, written straight into the tables: only their keys count.
      const ids = Array.from({ length: KEY_SAMPLE_TRACES }, () => newTraceId());
      await t.store.db
        .insertInto('traces')
        .values(ids.map((id, i) => ({ trace_id: id, experiment_id: Number(other), client_request_id: null, request_time: T0 + 60_000 + i, execution_duration: 1, state: 'OK', request_preview: null, response_preview: null, name: null, user_id: null, session_id: null, input_tokens: null, output_tokens: null, total_tokens: null, span_count: 0, cost_nanos: null })))
        .execute();
      const keys = await t.store.db.selectFrom('traces').select('trace_key').where('trace_id', 'in', ids).execute();
      await t.store.db.insertInto('trace_tags').values(keys.map((k) => ({ trace_key: k.trace_key, key: 'recent', value: 'yes' }))).execute();
      const { tag_keys: tags } = await suggestions('traces', other);
      expect(tags).toEqual(['recent']);
    });
  });

  describe('values', () => {
    it('answers the user and session ids that begin with the prefix, in order, literally', async () => {
      expect(await values('user', 'ali')).toEqual(['alice', 'alina']);
      expect(await values('user', 'alice')).toEqual(['alice']);
      expect(await values('user', 'alicez')).toEqual([]);
      // `_` and `%` are characters, not patterns.
      expect(await values('user', 'a_')).toEqual(['a_b']);
      expect(await values('user', '%')).toEqual([]);
      expect(await values('session', 'chat_')).toEqual(['chat_1']);
      expect(await values('session', 'conv-')).toEqual(['conv-a', 'conv-b']);
    });

    it(`answers at most ${MAX_SUGGESTED_VALUES}, and the most recently active first without a prefix`, async () => {
      const numbered = await values('user', 'u-');
      expect(numbered).toEqual(Array.from({ length: MAX_SUGGESTED_VALUES }, (_, i) => `u-${String(i).padStart(2, '0')}`));
      const recent = await values('user');
      expect(recent).toHaveLength(MAX_SUGGESTED_VALUES);
      expect(recent[0]).toBe(`u-${MAX_SUGGESTED_VALUES + 4}`);
      expect(await values('session', '')).toEqual(['chatX1', 'chat_1', 'conv-b', 'conv-a']);
    });

    it("refuses a wrong language, kind or prefix with MLflow's 400, and answers 404 for an unknown experiment", async () => {
      const refused = [
        `/api/threadline/experiments/${experiment}/filter-suggestions?language=spans`,
        `/api/threadline/experiments/${experiment}/filter-suggestions/values`,
        `/api/threadline/experiments/${experiment}/filter-suggestions/values?of=trace`,
        `/api/threadline/experiments/${experiment}/filter-suggestions/values?of=user&prefix=${'x'.repeat(300)}`,
        `/api/threadline/experiments/${experiment}/filter-suggestions/values?of=user&prefix=a%00b`,
        '/api/threadline/experiments/abc/filter-suggestions',
      ];
      for (const url of refused) {
        const res = await t.get(url);
        expect(res.statusCode, url).toBe(400);
        expect(res.json(), url).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.any(String) });
      }
      expect((await t.get('/api/threadline/experiments/987654/filter-suggestions')).statusCode).toBe(404);
      expect((await t.get('/api/threadline/experiments/987654/filter-suggestions/values?of=user')).statusCode).toBe(404);
    });
  });
});
