import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp } from '../src/http/app.js';
import { rank, type Access } from '../src/http/auth/access.js';
import { accessRuleOf, registeredAccessRules } from '../src/http/auth/access-rules.js';
import { AccountStore, type Permission } from '../src/store/accounts.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId, startTraceBody, tracesJsonPath, tracesJsonText } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest } from './support/otlp-payloads.js';

/**
 * Every route, tried by every kind of caller, against the permission table (access-rules.ts):
 * anonymous callers get 401 where the rule is not public, callers without enough permission
 * 403, the others get through to the handler, and answer 200. The samples below are keyed by the
 * rules themselves, so a route added with a rule and no sample here fails this test; a route
 * added without a rule does not even start (see the last test).
 */
const PASSWORD = 'correct horse battery';
const ROLES = ['anonymous', 'outsider', 'reader', 'user', 'editor', 'manager', 'admin'] as const;
type Role = (typeof ROLES)[number];
const GRANTS: Partial<Record<Role, Permission>> = { outsider: 'NO_PERMISSIONS', reader: 'READ', user: 'USE', editor: 'EDIT', manager: 'MANAGE' };

interface Sample {
  method: string;
  url: string;
  body?: unknown;
  headers?: Record<string, string>;
}

describeEachDatabase('permissions on every route', (database) => {
  let opened: TestStore;
  let app: FastifyInstance;
  let accounts: AccountStore;
  const tokens = {} as Record<Role, string>;
  let experiment = '';
  let secret = '';
  let traceId = '';
  let secretTraceId = '';
  let counter = 0;
  const unique = (prefix: string) => `${prefix}-${++counter}`;

  const call = (role: Role, sample: Sample): Promise<LightMyRequestResponse> => {
    const headers: Record<string, string> = { ...(sample.body !== undefined ? { 'content-type': 'application/json' } : {}), ...sample.headers };
    // The user role signs in with HTTP Basic, as MLFLOW_TRACKING_USERNAME / _PASSWORD do; the others with tokens.
    if (role === 'user') headers.authorization = `Basic ${Buffer.from(`user:${PASSWORD}`).toString('base64')}`;
    else if (role !== 'anonymous') headers.authorization = `Bearer ${tokens[role]}`;
    return app.inject({ method: sample.method as 'GET', url: sample.url, headers, ...(sample.body !== undefined ? { payload: typeof sample.body === 'string' ? sample.body : JSON.stringify(sample.body) } : {}) });
  };
  const asAdmin = async (sample: Sample) => {
    const reply = await call('admin', sample);
    expect(reply.statusCode, `${sample.method} ${sample.url}: ${reply.body}`).toBe(200);
    return reply;
  };
  const newExperiment = async (): Promise<string> => {
    const id = (await asAdmin({ method: 'POST', url: '/api/2.0/mlflow/experiments/create', body: { name: unique('exp') } })).json().experiment_id as string;
    for (const [role, permission] of Object.entries(GRANTS)) {
      await accounts.setPermission(id, (await accounts.getAccount(role))!.accountId, permission);
    }
    return id;
  };
  const newTrace = async (experimentId = experiment): Promise<string> => {
    const id = newTraceId();
    await asAdmin({ method: 'POST', url: '/api/3.0/mlflow/traces', body: startTraceBody({ traceId: id, experimentId, session: 's-1', user: 'end-user-1' }) });
    return id;
  };

  const FEEDBACK = { assessment_name: 'helpful', source: { source_type: 'HUMAN', source_id: 'reviewer' }, feedback: { value: true } };
  const newAssessment = async (): Promise<string> =>
    (await asAdmin({ method: 'POST', url: `/api/3.0/mlflow/traces/${traceId}/assessments`, body: { assessment: FEEDBACK } })).json().assessment.assessment_id as string;

  const newSessionAssessment = async (): Promise<string> =>
    (await asAdmin({ method: 'POST', url: '/api/threadline/sessions/s-1/assessments', body: { experiment_id: experiment, assessment: FEEDBACK } })).json().assessment.assessment_id as string;

  /** A request each rule's route answers 200 to, given enough permission; built fresh per call. */
  const SAMPLES: Record<string, (role: Role) => Promise<Sample>> = {
    'POST /api/2.0/mlflow/experiments/create': async () => ({ method: 'POST', url: '/api/2.0/mlflow/experiments/create', body: { name: unique('created') } }),
    'GET /api/2.0/mlflow/experiments/get': async () => ({ method: 'GET', url: `/api/2.0/mlflow/experiments/get?experiment_id=${experiment}` }),
    'GET /api/2.0/mlflow/experiments/get-by-name': async () => ({ method: 'GET', url: `/api/2.0/mlflow/experiments/get-by-name?experiment_name=exp-1` }),
    'POST /api/2.0/mlflow/experiments/search': async () => ({ method: 'POST', url: '/api/2.0/mlflow/experiments/search', body: {} }),
    'GET /api/2.0/mlflow/experiments/search': async () => ({ method: 'GET', url: '/api/2.0/mlflow/experiments/search' }),
    'POST /api/2.0/mlflow/experiments/update': async () => ({ method: 'POST', url: '/api/2.0/mlflow/experiments/update', body: { experiment_id: await newExperiment(), new_name: unique('renamed') } }),
    'POST /api/2.0/mlflow/experiments/delete': async () => ({ method: 'POST', url: '/api/2.0/mlflow/experiments/delete', body: { experiment_id: await newExperiment() } }),
    'POST /api/2.0/mlflow/experiments/restore': async () => {
      const id = await newExperiment();
      await asAdmin({ method: 'POST', url: '/api/2.0/mlflow/experiments/delete', body: { experiment_id: id } });
      return { method: 'POST', url: '/api/2.0/mlflow/experiments/restore', body: { experiment_id: id } };
    },
    'POST /api/2.0/mlflow/experiments/set-experiment-tag': async () => ({ method: 'POST', url: '/api/2.0/mlflow/experiments/set-experiment-tag', body: { experiment_id: experiment, key: 'k', value: 'v' } }),
    'POST /api/2.0/mlflow/experiments/delete-experiment-tag': async () => {
      await asAdmin({ method: 'POST', url: '/api/2.0/mlflow/experiments/set-experiment-tag', body: { experiment_id: experiment, key: 'gone', value: 'v' } });
      return { method: 'POST', url: '/api/2.0/mlflow/experiments/delete-experiment-tag', body: { experiment_id: experiment, key: 'gone' } };
    },
    'POST /api/3.0/mlflow/traces': async () => ({ method: 'POST', url: '/api/3.0/mlflow/traces', body: startTraceBody({ traceId: newTraceId(), experimentId: experiment }) }),
    'GET /api/3.0/mlflow/traces/:trace_id': async () => ({ method: 'GET', url: `/api/3.0/mlflow/traces/${traceId}` }),
    'GET /api/3.0/mlflow/traces/get': async () => ({ method: 'GET', url: `/api/3.0/mlflow/traces/get?trace_id=${traceId}` }),
    'GET /api/3.0/mlflow/traces/batchGet': async () => ({ method: 'GET', url: `/api/3.0/mlflow/traces/batchGet?trace_ids=${traceId}` }),
    'POST /api/3.0/mlflow/traces/batchGetInfos': async () => ({ method: 'POST', url: '/api/3.0/mlflow/traces/batchGetInfos', body: { trace_ids: [traceId] } }),
    'POST /api/3.0/mlflow/traces/search': async () => ({ method: 'POST', url: '/api/3.0/mlflow/traces/search', body: { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experiment } }] } }),
    'POST /api/3.0/mlflow/traces/metrics': async () => ({
      method: 'POST',
      url: '/api/3.0/mlflow/traces/metrics',
      body: { experiment_ids: [experiment], metric_name: 'trace_count', aggregations: [{ aggregation_type: 'COUNT' }] },
    }),
    'GET /api/2.0/mlflow/traces': async () => ({ method: 'GET', url: `/api/2.0/mlflow/traces?experiment_ids=${experiment}` }),
    'GET /api/2.0/mlflow/traces/:request_id/info': async () => ({ method: 'GET', url: `/api/2.0/mlflow/traces/${traceId}/info` }),
    'POST /api/3.0/mlflow/traces/delete-traces': async () => ({ method: 'POST', url: '/api/3.0/mlflow/traces/delete-traces', body: { experiment_id: experiment, request_ids: [await newTrace()] } }),
    'POST /api/2.0/mlflow/traces/delete-traces': async () => ({ method: 'POST', url: '/api/2.0/mlflow/traces/delete-traces', body: { experiment_id: experiment, request_ids: [await newTrace()] } }),
    'GET /api/2.0/mlflow/get-trace-artifact': async () => ({ method: 'GET', url: `/api/2.0/mlflow/get-trace-artifact?request_id=${traceId}` }),
    'PUT /api/2.0/mlflow-artifacts/artifacts/*': async () => {
      const id = await newTrace();
      return { method: 'PUT', url: tracesJsonPath(id, experiment), body: tracesJsonText(id) };
    },
    'GET /api/2.0/mlflow-artifacts/artifacts/*': async () => ({ method: 'GET', url: tracesJsonPath(traceId, experiment) }),
    'PATCH /api/3.0/mlflow/traces/:id/tags': async () => ({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${traceId}/tags`, body: { key: 'k', value: 'v' } }),
    'PATCH /api/2.0/mlflow/traces/:id/tags': async () => ({ method: 'PATCH', url: `/api/2.0/mlflow/traces/${traceId}/tags`, body: { key: 'k', value: 'v' } }),
    'DELETE /api/3.0/mlflow/traces/:id/tags': async () => {
      await asAdmin({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${traceId}/tags`, body: { key: 'gone', value: 'v' } });
      return { method: 'DELETE', url: `/api/3.0/mlflow/traces/${traceId}/tags`, body: { key: 'gone' } };
    },
    'DELETE /api/2.0/mlflow/traces/:id/tags': async () => {
      await asAdmin({ method: 'PATCH', url: `/api/2.0/mlflow/traces/${traceId}/tags`, body: { key: 'gone', value: 'v' } });
      return { method: 'DELETE', url: `/api/2.0/mlflow/traces/${traceId}/tags`, body: { key: 'gone' } };
    },
    'POST /api/3.0/mlflow/traces/:trace_id/assessments': async () => ({ method: 'POST', url: `/api/3.0/mlflow/traces/${traceId}/assessments`, body: { assessment: FEEDBACK } }),
    'GET /api/3.0/mlflow/traces/:trace_id/assessments/:assessment_id': async () => ({ method: 'GET', url: `/api/3.0/mlflow/traces/${traceId}/assessments/${await newAssessment()}` }),
    'PATCH /api/3.0/mlflow/traces/:trace_id/assessments/:assessment_id': async () => ({
      method: 'PATCH',
      url: `/api/3.0/mlflow/traces/${traceId}/assessments/${await newAssessment()}`,
      body: { assessment: { rationale: 'changed' }, update_mask: 'rationale' },
    }),
    'DELETE /api/3.0/mlflow/traces/:trace_id/assessments/:assessment_id': async () => ({ method: 'DELETE', url: `/api/3.0/mlflow/traces/${traceId}/assessments/${await newAssessment()}` }),
    'POST /api/threadline/sessions/search': async () => ({ method: 'POST', url: '/api/threadline/sessions/search', body: { experiment_id: experiment } }),
    'GET /api/threadline/sessions/:session_id/traces': async () => ({ method: 'GET', url: `/api/threadline/sessions/s-1/traces?experiment_id=${experiment}` }),
    'POST /api/threadline/sessions/:session_id/assessments': async () => ({
      method: 'POST',
      url: '/api/threadline/sessions/s-1/assessments',
      body: { experiment_id: experiment, assessment: FEEDBACK },
    }),
    'GET /api/threadline/sessions/:session_id/assessments': async () => ({ method: 'GET', url: `/api/threadline/sessions/s-1/assessments?experiment_id=${experiment}` }),
    'GET /api/threadline/sessions/:session_id/assessments/:assessment_id': async () => ({
      method: 'GET',
      url: `/api/threadline/sessions/s-1/assessments/${await newSessionAssessment()}?experiment_id=${experiment}`,
    }),
    'PATCH /api/threadline/sessions/:session_id/assessments/:assessment_id': async () => ({
      method: 'PATCH',
      url: `/api/threadline/sessions/s-1/assessments/${await newSessionAssessment()}?experiment_id=${experiment}`,
      body: { assessment: { rationale: 'changed' }, update_mask: 'rationale' },
    }),
    'DELETE /api/threadline/sessions/:session_id/assessments/:assessment_id': async () => ({
      method: 'DELETE',
      url: `/api/threadline/sessions/s-1/assessments/${await newSessionAssessment()}?experiment_id=${experiment}`,
    }),
    // An event stream answers 200 and lasts: here its life is cut short (live.maxStreamMillis below) so that inject() returns.
    'GET /api/threadline/experiments/:experiment_id/events': async () => ({ method: 'GET', url: `/api/threadline/experiments/${experiment}/events` }),
    'GET /api/threadline/experiments/:experiment_id/filter-suggestions': async () => ({ method: 'GET', url: `/api/threadline/experiments/${experiment}/filter-suggestions?language=sessions` }),
    'GET /api/threadline/experiments/:experiment_id/filter-suggestions/values': async () => ({ method: 'GET', url: `/api/threadline/experiments/${experiment}/filter-suggestions/values?of=user&prefix=end` }),
    'POST /api/threadline/users/search': async () => ({ method: 'POST', url: '/api/threadline/users/search', body: { experiment_id: experiment } }),
    'POST /api/threadline/traces/metrics': async () => ({ method: 'POST', url: '/api/threadline/traces/metrics', body: { experiment_id: experiment, start_time_ms: 0, end_time_ms: 2_000_000_000_000 } }),
    'POST /api/threadline/users/:user_id/erase': async () => ({ method: 'POST', url: '/api/threadline/users/nobody/erase', body: { experiment_id: experiment } }),
    'POST /api/threadline/sessions/:session_id/erase': async () => ({ method: 'POST', url: '/api/threadline/sessions/nothing/erase', body: { experiment_id: experiment } }),
    'GET /api/threadline/erasures/:erasure_id': async () => ({ method: 'GET', url: `/api/threadline/erasures/${await opened.store.erasures.start('session', 's-none', [experiment], 'test')}` }),
    'GET /api/threadline/erasures': async () => ({ method: 'GET', url: '/api/threadline/erasures' }),
    'GET /api/threadline/prices': async () => ({ method: 'GET', url: '/api/threadline/prices' }),
    'PUT /api/threadline/prices/:model': async () => ({ method: 'PUT', url: '/api/threadline/prices/m-1', body: { input_per_mtok: 1, output_per_mtok: 2 } }),
    'DELETE /api/threadline/prices/:model': async () => ({ method: 'DELETE', url: '/api/threadline/prices/m-1' }),
    'POST /api/threadline/feedback/metrics': async () => ({ method: 'POST', url: '/api/threadline/feedback/metrics', body: { experiment_id: experiment, start_time_ms: 1_700_000_000_000, end_time_ms: 1_700_086_400_000 } }),
    'POST /api/threadline/models/metrics': async () => ({ method: 'POST', url: '/api/threadline/models/metrics', body: { experiment_id: experiment, start_time_ms: 1_700_000_000_000, end_time_ms: 1_700_086_400_000 } }),
    'POST /api/2.0/mlflow/users/create': async () => ({ method: 'POST', url: '/api/2.0/mlflow/users/create', body: { username: unique('person'), password: PASSWORD } }),
    'GET /api/2.0/mlflow/users/get': async (role) => ({ method: 'GET', url: `/api/2.0/mlflow/users/get?username=${role}` }),
    'PATCH /api/2.0/mlflow/users/update-password': async (role) => ({ method: 'PATCH', url: '/api/2.0/mlflow/users/update-password', body: { username: role, password: PASSWORD } }),
    'PATCH /api/2.0/mlflow/users/update-admin': async () => ({ method: 'PATCH', url: '/api/2.0/mlflow/users/update-admin', body: { username: 'outsider', is_admin: false } }),
    'DELETE /api/2.0/mlflow/users/delete': async () => {
      const username = unique('doomed');
      await accounts.createAccount({ username, password: PASSWORD });
      return { method: 'DELETE', url: '/api/2.0/mlflow/users/delete', body: { username } };
    },
    'POST /api/2.0/mlflow/experiments/permissions/create': async () => ({ method: 'POST', url: '/api/2.0/mlflow/experiments/permissions/create', body: { experiment_id: experiment, username: 'spare', permission: 'READ' } }),
    'GET /api/2.0/mlflow/experiments/permissions/get': async () => ({ method: 'GET', url: `/api/2.0/mlflow/experiments/permissions/get?experiment_id=${experiment}&username=reader` }),
    'PATCH /api/2.0/mlflow/experiments/permissions/update': async () => ({ method: 'PATCH', url: '/api/2.0/mlflow/experiments/permissions/update', body: { experiment_id: experiment, username: 'spare', permission: 'USE' } }),
    'DELETE /api/2.0/mlflow/experiments/permissions/delete': async () => {
      await accounts.setPermission(experiment, (await accounts.getAccount('spare'))!.accountId, 'READ');
      return { method: 'DELETE', url: '/api/2.0/mlflow/experiments/permissions/delete', body: { experiment_id: experiment, username: 'spare' } };
    },
    'GET /api/threadline/experiments/:experiment_id/permissions': async () => ({ method: 'GET', url: `/api/threadline/experiments/${experiment}/permissions` }),
    'GET /api/threadline/experiments/:experiment_id/redaction': async () => ({ method: 'GET', url: `/api/threadline/experiments/${experiment}/redaction` }),
    'PUT /api/threadline/experiments/:experiment_id/redaction': async () => ({
      method: 'PUT',
      url: `/api/threadline/experiments/${await newExperiment()}/redaction`,
      body: { detectors: ['email'], patterns: [{ name: 'employee_id', pattern: 'EMP-\\d{6}' }] },
    }),
    'POST /api/threadline/auth/login': async () => ({ method: 'POST', url: '/api/threadline/auth/login', body: { username: 'reader', password: PASSWORD } }),
    'POST /api/threadline/auth/logout': async () => ({ method: 'POST', url: '/api/threadline/auth/logout' }),
    'GET /api/threadline/auth/me': async () => ({ method: 'GET', url: '/api/threadline/auth/me' }),
    'GET /api/threadline/tokens': async () => ({ method: 'GET', url: '/api/threadline/tokens' }),
    'POST /api/threadline/tokens': async () => ({ method: 'POST', url: '/api/threadline/tokens', body: { name: 'laptop' } }),
    'DELETE /api/threadline/tokens/:token_id': async (role) => {
      const account = role === 'anonymous' ? undefined : await accounts.getAccount(role);
      const { tokenId } = await accounts.createToken(account?.accountId ?? 0, 'to revoke');
      return { method: 'DELETE', url: `/api/threadline/tokens/${tokenId}` };
    },
    'GET /api/threadline/accounts': async () => ({ method: 'GET', url: '/api/threadline/accounts' }),
    'GET /api/threadline/audit': async () => ({ method: 'GET', url: '/api/threadline/audit' }),
    'GET /health': async () => ({ method: 'GET', url: '/health' }),
    'GET /health/ready': async () => ({ method: 'GET', url: '/health/ready' }),
    'GET /version': async () => ({ method: 'GET', url: '/version' }),
    'POST /v1/traces': async () => ({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'x-mlflow-experiment-id': experiment },
      body: otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId(), attributes: { 'session.id': 's-otlp' } }]),
    }),
  };

  beforeAll(async () => {
    opened = await database.open();
    accounts = new AccountStore(opened.store.db);
    app = await createApp({ store: opened.store, ui: { distDir: false }, auth: { accounts, defaultPermission: 'NO_PERMISSIONS' }, live: { maxStreamMillis: 50 } });
    for (const role of ROLES) {
      if (role === 'anonymous') continue;
      const account = await accounts.createAccount({ username: role, password: PASSWORD, isAdmin: role === 'admin' });
      tokens[role] = (await accounts.createToken(account.accountId, 'test')).token;
    }
    await accounts.createAccount({ username: 'spare', password: PASSWORD });
    experiment = await newExperiment();
    traceId = await newTrace();
    await asAdmin({ method: 'PUT', url: tracesJsonPath(traceId, experiment), body: tracesJsonText(traceId) });
    // An experiment only the admin may see, with a trace, a session and a user of its own.
    secret = (await asAdmin({ method: 'POST', url: '/api/2.0/mlflow/experiments/create', body: { name: 'secret' } })).json().experiment_id;
    secretTraceId = await newTrace(secret);
  });
  afterAll(async () => {
    await app?.close();
    await opened?.close();
  });

  /** The status a role should get from a route with this rule: 401, 403 or 200. */
  const expected = (access: Access, role: Role): number => {
    if (access.kind === 'public') return 200;
    if (role === 'anonymous') return 401;
    if (access.kind === 'signed-in' || role === 'admin') return 200;
    if (access.kind === 'admin') return 403;
    return rank(GRANTS[role] ?? 'NO_PERMISSIONS') >= rank(access.need) ? 200 : 403;
  };

  it('answers every route exactly as its rule says, for every kind of caller', { timeout: 60_000 }, async () => {
    const failures: string[] = [];
    const routes = registeredAccessRules().filter(([key]) => !key.includes(' /ajax-api/') && key !== 'GET /' && key !== 'GET /*');
    for (const [key, access] of routes) {
      const sample = SAMPLES[key];
      if (!sample) {
        failures.push(`${key}: no sample request in this test`);
        continue;
      }
      for (const role of ROLES) {
        const reply = await call(role, await sample(role));
        let want = expected(access, role);
        // Looked up by name, an experiment the caller may not read is as absent as a missing one;
        // so is the receipt of an erase in one.
        if ((key === 'GET /api/2.0/mlflow/experiments/get-by-name' || key === 'GET /api/threadline/erasures/:erasure_id') && want === 200 && role !== 'admin' && rank(GRANTS[role] ?? 'NO_PERMISSIONS') < rank('READ')) want = 404;
        if (reply.statusCode !== want) failures.push(`${key} as ${role}: ${reply.statusCode}, expected ${want}: ${reply.body.slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('lets no search, session, user or trace of an unreadable experiment through', async () => {
    const both = { locations: [experiment, secret].map((id) => ({ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: id } })) };
    const denied: Sample[] = [
      { method: 'POST', url: '/api/3.0/mlflow/traces/search', body: both },
      { method: 'GET', url: `/api/2.0/mlflow/traces?experiment_ids=${experiment}&experiment_ids=${secret}` },
      { method: 'POST', url: '/api/threadline/sessions/search', body: { experiment_id: secret } },
      { method: 'POST', url: '/api/threadline/users/search', body: { experiment_id: secret } },
      { method: 'GET', url: `/api/threadline/experiments/${secret}/events` },
      { method: 'GET', url: `/api/threadline/experiments/${secret}/filter-suggestions` },
      { method: 'GET', url: `/api/threadline/experiments/${secret}/filter-suggestions/values?of=user` },
      { method: 'GET', url: `/api/threadline/sessions/s-1/traces?experiment_id=${secret}` },
      { method: 'GET', url: `/api/threadline/sessions/s-1/assessments?experiment_id=${secret}` },
      { method: 'POST', url: '/api/threadline/sessions/s-1/assessments', body: { experiment_id: secret, assessment: FEEDBACK } },
      { method: 'POST', url: '/api/threadline/traces/metrics', body: { experiment_id: secret, start_time_ms: 0, end_time_ms: 2_000_000_000_000 } },
      { method: 'POST', url: '/api/3.0/mlflow/traces/metrics', body: { experiment_ids: [experiment, secret], metric_name: 'trace_count', aggregations: [{ aggregation_type: 'COUNT' }] } },
      { method: 'POST', url: '/api/threadline/feedback/metrics', body: { experiment_id: secret, start_time_ms: 1_700_000_000_000, end_time_ms: 1_700_086_400_000 } },
      { method: 'POST', url: '/api/threadline/models/metrics', body: { experiment_id: secret, start_time_ms: 1_700_000_000_000, end_time_ms: 1_700_086_400_000 } },
      { method: 'GET', url: `/api/3.0/mlflow/traces/${secretTraceId}` },
      { method: 'GET', url: `/api/3.0/mlflow/traces/batchGet?trace_ids=${traceId}&trace_ids=${secretTraceId}` },
      { method: 'POST', url: '/api/3.0/mlflow/traces/batchGetInfos', body: { trace_ids: [traceId, secretTraceId] } },
      { method: 'GET', url: tracesJsonPath(secretTraceId, secret) },
      // Naming the readable experiment in the path does not reach a trace of another one.
      { method: 'GET', url: `/api/2.0/mlflow/get-trace-artifact?request_id=${secretTraceId}` },
    ];
    for (const sample of denied) expect((await call('manager', sample)).statusCode, `${sample.method} ${sample.url}`).toBe(403);
    const listed = (await call('manager', { method: 'POST', url: '/api/2.0/mlflow/experiments/search', body: { view_type: 'ALL' } })).json().experiments as { experiment_id: string }[];
    expect(listed.map((e) => e.experiment_id)).toContain(experiment);
    expect(listed.map((e) => e.experiment_id)).not.toContain(secret);
    expect((await call('manager', { method: 'GET', url: '/api/2.0/mlflow/experiments/get-by-name?experiment_name=secret' })).statusCode).toBe(404);
    // The admin reads it all.
    const adminSees = (await call('admin', { method: 'POST', url: '/api/3.0/mlflow/traces/search', body: { ...both, max_results: 500 } })).json().traces as { trace_id: string }[];
    expect(adminSees.map((t) => t.trace_id)).toContain(secretTraceId);
  });

  it('gives the creator of an experiment MANAGE on it, and records who did what', async () => {
    const created = await call('reader', { method: 'POST', url: '/api/2.0/mlflow/experiments/create', body: { name: unique('mine') } });
    const id = created.json().experiment_id as string;
    expect((await call('reader', { method: 'POST', url: '/api/2.0/mlflow/experiments/delete', body: { experiment_id: id } })).statusCode).toBe(200);
    const events = (await call('admin', { method: 'GET', url: '/api/threadline/audit?max_results=1000' })).json().events as { actor: string; action: string; target: string }[];
    expect(events).toEqual(expect.arrayContaining([
      expect.objectContaining({ actor: 'reader', action: 'experiment.create', target: `experiment ${id}` }),
      expect.objectContaining({ actor: 'reader', action: 'experiment.delete', target: `experiment ${id}` }),
      expect.objectContaining({ actor: 'admin', action: 'traces.delete' }),
      expect.objectContaining({ action: 'token.create' }),
      expect.objectContaining({ action: 'permission.set' }),
      expect.objectContaining({ actor: 'manager', action: 'experiment.redaction' }),
      expect.objectContaining({ actor: 'reader', action: 'login' }),
    ]));
  });

  it('refuses a revoked token at once, and a wrong password', async () => {
    const account = (await accounts.getAccount('reader'))!;
    const created = await call('reader', { method: 'POST', url: '/api/threadline/tokens', body: { name: 'short-lived' } });
    const { token, token_id: tokenId } = created.json() as { token: string; token_id: string };
    const withToken = () => app.inject({ method: 'GET', url: `/api/3.0/mlflow/traces/${traceId}`, headers: { authorization: `Bearer ${token}` } });
    expect((await withToken()).statusCode).toBe(200);
    expect((await call('reader', { method: 'DELETE', url: `/api/threadline/tokens/${tokenId}` })).statusCode).toBe(200);
    expect((await withToken()).statusCode).toBe(401);
    expect((await accounts.listTokens(account.accountId)).find((t) => t.tokenId === tokenId)?.revokedTime).not.toBeNull();
    const wrong = await app.inject({ method: 'GET', url: `/api/3.0/mlflow/traces/${traceId}`, headers: { authorization: `Basic ${Buffer.from('reader:wrong password').toString('base64')}` } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ error_code: 'UNAUTHENTICATED' });
  });

  it('signs the UI in with an HttpOnly, SameSite cookie whose changes need the CSRF token', async () => {
    const login = await app.inject({ method: 'POST', url: '/api/threadline/auth/login', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ username: 'manager', password: PASSWORD }) });
    expect(login.statusCode).toBe(200);
    const cookie = String(login.headers['set-cookie']);
    expect(cookie).toMatch(/^threadline_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    const { csrf_token: csrf } = login.json() as { csrf_token: string };
    const session = cookie.split(';')[0]!;
    const tag = (headers: Record<string, string>) =>
      app.inject({ method: 'PATCH', url: `/api/3.0/mlflow/traces/${traceId}/tags`, headers: { cookie: session, 'content-type': 'application/json', ...headers }, payload: JSON.stringify({ key: 'from-ui', value: 'yes' }) });
    expect((await app.inject({ method: 'GET', url: `/api/3.0/mlflow/traces/${traceId}`, headers: { cookie: session } })).statusCode).toBe(200);
    expect((await tag({})).statusCode).toBe(403);
    expect((await tag({ 'x-csrf-token': 'forged' })).statusCode).toBe(403);
    expect((await tag({ 'x-csrf-token': csrf })).statusCode).toBe(200);
    const me = await app.inject({ method: 'GET', url: '/api/threadline/auth/me', headers: { cookie: session } });
    expect(me.json()).toMatchObject({ auth_enabled: true, signed_in: true, username: 'manager', csrf_token: csrf });
  });

  it('will not register a route that has no access rule', async () => {
    expect(accessRuleOf('GET', '/api/no-such-route')).toBeUndefined();
    const store = opened.store;
    const probe = await createApp({ store, ui: { distDir: false } });
    await expect(probe.register(async (scope) => void scope.get('/api/no-such-route', async () => ({})))).rejects.toThrow(/declares no access rule/);
    await probe.close().catch(() => {});
  });
});
