import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTraces, getExportStats, init, SpanType, ThreadlineClient, trace, updateCurrentTrace, type InitOptions } from '@threadline/tracing';
import { startServer, type RunningServer } from '../../server/src/server.js';
import { recordingLogger } from './support/sdk-setup.js';

/**
 * The SDK against a real server with accounts (`--auth`): it signs in the way MLflow's clients
 * do (MLFLOW_TRACKING_TOKEN as a bearer token, MLFLOW_TRACKING_USERNAME / _PASSWORD as HTTP
 * Basic), over the MLflow REST path and OTLP alike; refused credentials are reported once and
 * never thrown into the app.
 */
const ADMIN = { username: 'admin', password: 'admin password 1' };
const WRITER_PASSWORD = 'writer password 1';

let server: RunningServer;
let experimentId = '';
let writerToken = '';
let strangerToken = '';

const basic = (username: string, password: string) => `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
async function api(path: string, authorization: string, body?: unknown): Promise<Record<string, unknown>> {
  const reply = await fetch(`${server.url}/api${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!reply.ok) throw new Error(`${path}: ${reply.status} ${await reply.text()}`);
  return (await reply.json()) as Record<string, unknown>;
}

beforeAll(async () => {
  server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0, auth: true, bootstrapAdmin: ADMIN, defaultPermission: 'NO_PERMISSIONS' });
  const admin = basic(ADMIN.username, ADMIN.password);
  experimentId = (await api('/2.0/mlflow/experiments/create', admin, { name: 'auth-e2e' })).experiment_id as string;
  for (const username of ['writer', 'stranger']) await api('/2.0/mlflow/users/create', admin, { username, password: WRITER_PASSWORD });
  await api('/2.0/mlflow/experiments/permissions/create', admin, { experiment_id: experimentId, username: 'writer', permission: 'USE' });
  writerToken = (await api('/threadline/tokens', basic('writer', WRITER_PASSWORD), { name: 'sdk' })).token as string;
  strangerToken = (await api('/threadline/tokens', basic('stranger', WRITER_PASSWORD), { name: 'sdk' })).token as string;
});
afterAll(async () => {
  await server?.close();
});

const answer = trace(
  async (question: string, session: string) => {
    updateCurrentTrace({ metadata: { 'mlflow.trace.user': 'end-user', 'mlflow.trace.session': session } });
    return `echo: ${question}`;
  },
  { name: 'answer', spanType: SpanType.CHAIN },
);

/** Traces of a session as the admin sees them. */
async function stored(session: string): Promise<number> {
  const client = new ThreadlineClient({ trackingUri: server.url, trackingServerUsername: ADMIN.username, trackingServerPassword: ADMIN.password });
  const page = await client.searchTraces({ experimentIds: [experimentId], filter: `metadata.\`mlflow.trace.session\` = '${session}'` });
  return page.traces.length;
}

describe('the SDK on a server that requires accounts', () => {
  it.each<[string, Partial<InitOptions>]>([
    ['a token (MLFLOW_TRACKING_TOKEN), MLflow REST', { trackingServerToken: 'WRITER_TOKEN' }],
    ['a username and password (HTTP Basic), MLflow REST', { trackingServerUsername: 'writer', trackingServerPassword: WRITER_PASSWORD }],
    ['a token over OTLP', { trackingServerToken: 'WRITER_TOKEN', exporter: 'otlp' }],
  ])('logs traces with %s', async (label, credentials) => {
    const logger = recordingLogger();
    const options = { ...credentials, ...(credentials.trackingServerToken ? { trackingServerToken: writerToken } : {}) };
    init({ trackingUri: server.url, experimentId, scheduledDelayMillis: 0, logger, ...options });
    const session = `session ${label}`;
    expect(await answer('hi', session)).toBe('echo: hi');
    await flushTraces({ timeoutMillis: 10_000 });
    expect(getExportStats()).toMatchObject({ exported: 1, failed: 0 });
    expect(await stored(session)).toBe(1);
    expect(logger.messages.filter((m) => m.level !== 'debug')).toEqual([]);
  });

  it.each<[string, Partial<InitOptions>, RegExp]>([
    ['no credentials', {}, /HTTP 401/],
    ['a wrong token', { trackingServerToken: 'tlk_not-a-real-token' }, /HTTP 401/],
    ['a token without permission on the experiment', { trackingServerToken: 'STRANGER_TOKEN' }, /HTTP 403/],
  ])('with %s, reports the refusal once and never throws into the app', async (_label, credentials, refusal) => {
    const logger = recordingLogger();
    const token = credentials.trackingServerToken === 'STRANGER_TOKEN' ? strangerToken : credentials.trackingServerToken;
    init({ trackingUri: server.url, experimentId, scheduledDelayMillis: 0, logger, ...(token ? { trackingServerToken: token } : {}) });
    for (let i = 0; i < 3; i++) expect(await answer('hi', 'refused')).toBe('echo: hi');
    await flushTraces({ timeoutMillis: 10_000 });
    expect(getExportStats()).toMatchObject({ exported: 0, failed: 3 });
    const reports = logger.messages.filter((m) => m.level === 'error' || m.level === 'warn');
    expect(reports).toHaveLength(1);
    expect(reports[0]!.message).toMatch(refusal);
    expect(reports[0]!.message).toMatch(/credentials/);
  });
});
