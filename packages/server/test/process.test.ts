/**
 * The `threadline` command as a real process: start-up errors, restarts, `kill -9`, and several
 * replicas sharing one database, driven with the exact requests of the MLflow TypeScript SDK
 * (wire protocol §3.11). Needs the built CLI: `npx tsc -b` first (`npm test` does it).
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { SessionsTable, UsersTable } from '../src/store/schema.js';
import { createPostgresSchema, postgresOk } from './support/databases.js';
import {
  createTrace,
  hexToBase64,
  logTrace,
  mangledSpanTraceId,
  mapConcurrent,
  parseWithExactNanos,
  request,
  runCli,
  sdkTrace,
  startServerProcess,
  startTraceBodyText,
  stopAllServerProcesses,
  tracesJsonPathOf,
  tracesJsonText,
  uploadSpans,
  type ServerProcess,
  type TraceSpec,
} from './support/server-process.js';

// ---- clean-up, whatever a test did ------------------------------------------------------------

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  // Servers first: a schema or a file is only removed once nothing has it open.
  await stopAllServerProcesses();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(stopAllServerProcesses);

function tempSqliteUri(): { uri: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'threadline-process-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'threadline.db');
  return { uri: `sqlite:///${path}`, path };
}

// ---- what a stored trace must look like -------------------------------------------------------

interface WireSpan {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  name: string;
  start_time_unix_nano: string;
  end_time_unix_nano: string | null;
  status: { code: string; message: string };
  attributes: Record<string, unknown>;
  events: { name: string; time_unix_nano: string; attributes: Record<string, unknown> }[];
}

/** Attribute values come back JSON-encoded (the Python form) or plain; the SDK reads both (§2.7). */
function decodeAttributes(attributes: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(attributes).map(([key, value]) => {
      if (typeof value !== 'string') return [key, value];
      try {
        return [key, JSON.parse(value) as unknown];
      } catch {
        return [key, value];
      }
    }),
  );
}

/**
 * Reads a trace back as `MlflowClient.getTrace` does (§3.5: info, then `traces.json` at the path
 * its artifact location names) and checks it is exactly what the SDK sent: info fields, every
 * metadata key, tags, and each span with its nanosecond times compared as text.
 */
async function expectStoredTrace(baseUrl: string, spec: TraceSpec, tags: { set?: Record<string, string>; deleted?: string[] } = {}): Promise<void> {
  const infoReply = await request(baseUrl, 'GET', `/api/3.0/mlflow/traces/${spec.traceId}`);
  expect(infoReply.status, `GET info of ${spec.traceId} on ${baseUrl}: ${infoReply.text}`).toBe(200);
  const info = (JSON.parse(infoReply.text) as { trace: { trace_info: Record<string, unknown> & { trace_metadata: Record<string, string>; tags: Record<string, string> } } })
    .trace.trace_info;
  // Every field the SDK sent comes back as sent: times, duration text, state, previews.
  const { trace_metadata: sentMetadata, tags: _sentTags, assessments: _assessments, ...sentFields } = (
    JSON.parse(startTraceBodyText(spec)) as { trace: { trace_info: Record<string, unknown> } }
  ).trace.trace_info;
  expect(info).toMatchObject(sentFields);
  expect(info.client_request_id).toBe(spec.clientRequestId);
  expect(info.trace_metadata).toMatchObject(sentMetadata as Record<string, string>);
  expect(info.trace_metadata['mlflow.trace.infoFinalized']).toBe('true');
  const artifactLocation = `mlflow-artifacts:/${spec.experimentId}/traces/${spec.traceId}/artifacts`;
  const expectedTags: Record<string, string> = { ...spec.tags, ...tags.set, 'mlflow.artifactLocation': artifactLocation, 'mlflow.traceName': spec.spans[0]!.name };
  for (const key of tags.deleted ?? []) delete expectedTags[key];
  expect(info.tags).toMatchObject(expectedTags);
  for (const key of tags.deleted ?? []) expect(info.tags).not.toHaveProperty([key]);

  const spansReply = await request(baseUrl, 'GET', tracesJsonPathOf(info.tags['mlflow.artifactLocation']!));
  expect(spansReply.status, `GET traces.json of ${spec.traceId} on ${baseUrl}: ${spansReply.text}`).toBe(200);
  const { spans } = parseWithExactNanos(spansReply.text) as { spans: WireSpan[] };
  expect(spans.map((s) => s.span_id).sort()).toEqual(spec.spans.map((s) => hexToBase64(s.spanId)).sort());
  for (const sent of spec.spans) {
    const got = spans.find((s) => s.span_id === hexToBase64(sent.spanId))!;
    // The exact decimal text, as written in the reply: a double would have rounded it.
    expect(spansReply.text).toContain(`"start_time_unix_nano":${sent.startNs}`);
    expect(got.start_time_unix_nano).toBe(sent.startNs.toString());
    expect(got.end_time_unix_nano).toBe(sent.endNs === null ? null : sent.endNs.toString());
    expect(got.name).toBe(sent.name);
    if (sent.parentSpanId === null) expect([null, '']).toContain(got.parent_span_id);
    else expect(got.parent_span_id).toBe(hexToBase64(sent.parentSpanId));
    expect(got.status).toEqual(sent.status);
    expect(decodeAttributes(got.attributes)).toEqual({ 'mlflow.traceRequestId': spec.traceId, ...sent.attributes });
    expect(got.events.map((e) => ({ ...e, attributes: decodeAttributes(e.attributes) }))).toEqual(
      sent.events.map((e) => ({ name: e.name, time_unix_nano: e.timeNs.toString(), attributes: e.attributes })),
    );
  }
}

// ---- the helpers replay the SDK byte for byte ------------------------------------------------

describe('payload helpers', () => {
  it('mangle span trace ids exactly as the TypeScript SDK does (§3.8)', () => {
    expect(mangledSpanTraceId('tr-fd17eed378e53bc628fb795aa03739e0')).toBe('APHRfu03jlO8Yo+3laoDcw==');
    expect(mangledSpanTraceId('tr-a0299ac374893dcb79f09b5a795aa0e8')).toBe('APYCmaw3SJPct58JtaeVqg==');
  });

  it('write §3.11 examples 1 and 2 to the byte', () => {
    const traceId = 'tr-a0299ac374893dcb79f09b5a795aa0e8';
    const spec: TraceSpec = {
      traceId,
      experimentId: '0',
      clientRequestId: 'req-42',
      requestPreview: '{"a":2,"b":3}',
      responsePreview: '11',
      requestTimeMs: Date.parse('2026-11-23T19:51:26.775Z'),
      executionDurationMs: 2,
      state: 'OK',
      metadata: {
        'mlflow.trace_schema.version': '3',
        'app.version': '1.2',
        'mlflow.trace.session': 'sess-1',
        'mlflow.trace.user': 'user-1',
        'mlflow.trace.tokenUsage': '{"input_tokens":3,"output_tokens":4,"total_tokens":7}',
        'mlflow.traceInputs': '{"a":2,"b":3}',
        'mlflow.traceOutputs': '11',
      },
      tags: { fruit: 'apple' },
      spans: [
        {
          spanId: Buffer.from('8MA1SDFQpsg=', 'base64').toString('hex'),
          parentSpanId: null,
          name: 'add',
          startNs: 1795463486775000000n,
          endNs: 1795463486777437333n,
          status: { code: 'STATUS_CODE_OK', message: '' },
          attributes: { 'mlflow.spanType': 'CHAIN', 'mlflow.spanInputs': { a: 2, b: 3 }, 'mlflow.spanOutputs': 11 },
          events: [],
        },
        {
          spanId: Buffer.from('pSmHSzBsqdg=', 'base64').toString('hex'),
          parentSpanId: Buffer.from('8MA1SDFQpsg=', 'base64').toString('hex'),
          name: 'inner',
          startNs: 1795463486776000000n,
          endNs: 1795463486776485684n,
          status: { code: 'STATUS_CODE_OK', message: '' },
          attributes: {
            'mlflow.spanType': 'LLM',
            'mlflow.spanInputs': { a: 2, b: 3 },
            'custom.num': 5,
            'mlflow.chat.tokenUsage': { input_tokens: 3, output_tokens: 4, total_tokens: 7 },
            'mlflow.spanOutputs': 6,
          },
          events: [],
        },
      ],
      user: 'user-1',
      session: 'sess-1',
      tokens: { input_tokens: 3, output_tokens: 4, total_tokens: 7 },
    };
    expect(startTraceBodyText(spec)).toBe(
      '{"trace":{"trace_info":{"trace_id":"tr-a0299ac374893dcb79f09b5a795aa0e8","client_request_id":"req-42",' +
        '"trace_location":{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"0"}},"request_preview":"{\\"a\\":2,\\"b\\":3}",' +
        '"response_preview":"11","request_time":"2026-11-23T19:51:26.775Z","execution_duration":"0.002s","state":"OK",' +
        '"trace_metadata":{"mlflow.trace_schema.version":"3","app.version":"1.2","mlflow.trace.session":"sess-1","mlflow.trace.user":"user-1",' +
        '"mlflow.trace.tokenUsage":"{\\"input_tokens\\":3,\\"output_tokens\\":4,\\"total_tokens\\":7}","mlflow.traceInputs":"{\\"a\\":2,\\"b\\":3}",' +
        '"mlflow.traceOutputs":"11"},"tags":{"fruit":"apple"},"assessments":[]}}}',
    );
    expect(tracesJsonText(spec)).toBe(
      '{"spans":[{"trace_id":"APYCmaw3SJPct58JtaeVqg==","span_id":"8MA1SDFQpsg=","parent_span_id":"","name":"add",' +
        '"start_time_unix_nano":1795463486775000000,"end_time_unix_nano":1795463486777437333,"status":{"code":"STATUS_CODE_OK","message":""},' +
        '"attributes":{"mlflow.traceRequestId":"tr-a0299ac374893dcb79f09b5a795aa0e8","mlflow.spanType":"CHAIN","mlflow.spanInputs":{"a":2,"b":3},"mlflow.spanOutputs":11},"events":[]},' +
        '{"trace_id":"APYCmaw3SJPct58JtaeVqg==","span_id":"pSmHSzBsqdg=","parent_span_id":"8MA1SDFQpsg=","name":"inner",' +
        '"start_time_unix_nano":1795463486776000000,"end_time_unix_nano":1795463486776485684,"status":{"code":"STATUS_CODE_OK","message":""},' +
        '"attributes":{"mlflow.traceRequestId":"tr-a0299ac374893dcb79f09b5a795aa0e8","mlflow.spanType":"LLM","mlflow.spanInputs":{"a":2,"b":3},"custom.num":5,' +
        '"mlflow.chat.tokenUsage":{"input_tokens":3,"output_tokens":4,"total_tokens":7},"mlflow.spanOutputs":6},"events":[]}]}',
    );
  });

  it('generate nanosecond times that a double cannot hold', () => {
    for (const span of sdkTrace({ state: 'ERROR' }).spans) {
      for (const ns of [span.startNs, span.endNs!]) {
        expect(ns > BigInt(Number.MAX_SAFE_INTEGER)).toBe(true);
        expect(BigInt(Number(ns))).not.toBe(ns);
      }
    }
  });
});

// ---- the command line -------------------------------------------------------------------------

function expectOneLineError(stderr: string, pattern: RegExp): void {
  expect(stderr.trimEnd().split('\n'), stderr).toHaveLength(1);
  expect(stderr).toMatch(/^threadline: /);
  expect(stderr).toMatch(pattern);
}

describe('threadline server: start-up', () => {
  it('refuses an unsupported backend store URI with exit code 2 and one line', async () => {
    const run = await runCli(['server', '--host', '127.0.0.1', '--port', '0', '--backend-store-uri', 'mysql://x']);
    expect(run.code).toBe(2);
    expectOneLineError(run.stderr, /mysql:\/\/x/);
    expect(run.stdout).not.toMatch(/listening/);
  });

  it('reports an unreachable PostgreSQL in one line and exits non-zero', async () => {
    const run = await runCli(['server', '--host', '127.0.0.1', '--port', '0', '--backend-store-uri', 'postgresql://postgres@127.0.0.1:1/x']);
    expect(run.signal).toBeNull();
    expect(run.code).not.toBe(0);
    expectOneLineError(run.stderr, /PostgreSQL/);
    expect(run.stdout).not.toMatch(/listening/);
  });

  it('answers /health with OK, and a second server on its port reports the port in one line', async () => {
    const server = await startServerProcess({ backendStoreUri: tempSqliteUri().uri });
    const health = await request(server.url, 'GET', '/health');
    expect(health).toEqual({ status: 200, text: 'OK' });

    const run = await runCli(['server', '--host', '127.0.0.1', '--port', String(server.port), '--backend-store-uri', tempSqliteUri().uri]);
    expect(run.signal).toBeNull();
    expect(run.code).not.toBe(0);
    expectOneLineError(run.stderr, new RegExp(`\\b${server.port}\\b`));
    // The first server is unharmed.
    expect(await request(server.url, 'GET', '/health')).toEqual({ status: 200, text: 'OK' });
  });
});

describe('threadline server: redaction rules (--redact, --redact-pattern)', () => {
  it('refuses an unknown detector or a pattern RE2 cannot compile, from flags or environment', async () => {
    const args = ['server', '--host', '127.0.0.1', '--port', '0', '--backend-store-uri', tempSqliteUri().uri];
    const flag = await runCli([...args, '--redact', 'email,ssn']);
    expect(flag.code).not.toBe(0);
    expect(flag.stderr).toMatch(/Unknown detectors 'ssn'/);
    const env = await runCli(args, { env: { THREADLINE_REDACT_PATTERNS: 'employee_id=EMP-\\d{6}\nbroken=(' } });
    expect(env.code).toBe(2);
    expectOneLineError(env.stderr, /THREADLINE_REDACT_PATTERNS: pattern 'broken': not a valid RE2/);
    expect(env.stdout).not.toMatch(/listening/);
  });

  it('says what it redacts, and redacts it; flags win over the environment', async () => {
    const server = await startServerProcess({
      backendStoreUri: tempSqliteUri().uri,
      extraArgs: ['--redact', 'email,credit_card', '--redact-pattern', 'employee_id=EMP-\\d{6}'],
      env: { THREADLINE_REDACT: 'phone' },
    });
    expect(server.output().stdout).toMatch(/redacting email, credit_card, employee_id\)/);
    const traceId = `tr-${randomBytes(16).toString('hex')}`;
    const body = JSON.stringify({
      trace: {
        trace_info: {
          trace_id: traceId,
          trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } },
          request_preview: 'bob@example.com paid with 4111 1111 1111 1111 for EMP-123456, call +1 415 555 2671',
          trace_metadata: { 'mlflow.trace.user': 'bob@example.com' },
        },
      },
    });
    expect((await request(server.url, 'POST', '/api/3.0/mlflow/traces', body)).status).toBe(200);
    const info = JSON.parse((await request(server.url, 'GET', `/api/3.0/mlflow/traces/${traceId}`)).text).trace.trace_info;
    expect(info.request_preview).toBe('[REDACTED:email] paid with [REDACTED:credit_card] for [REDACTED:employee_id], call +1 415 555 2671');
    expect(info.trace_metadata['mlflow.trace.user']).toBe('bob@example.com');
  });
});

describe('threadline server with accounts (--auth)', () => {
  it('refuses to listen on a non-loopback address without --auth or --no-auth, and --auth without an admin', async () => {
    const open = await runCli(['server', '--host', '0.0.0.0', '--port', '0', '--backend-store-uri', tempSqliteUri().uri]);
    expect(open.code).toBe(2);
    expectOneLineError(open.stderr, /--auth/);
    const noAdmin = await runCli(['server', '--auth', '--host', '127.0.0.1', '--port', '0', '--backend-store-uri', tempSqliteUri().uri]);
    expect(noAdmin.code).toBe(2);
    expectOneLineError(noAdmin.stderr, /THREADLINE_ADMIN_USERNAME/);
  });

  it("takes the MLflow SDK's two calls with HTTP Basic and with a token, and answers 401 without them", async () => {
    const { uri } = tempSqliteUri();
    const created = await runCli(['create-account', '--admin', '--username', 'root', '--backend-store-uri', uri], { env: { THREADLINE_PASSWORD: 'root password 1' } });
    expect(created.stdout).toMatch(/Created admin account 'root'/);
    const server = await startServerProcess({ backendStoreUri: uri, extraArgs: ['--auth'], env: { THREADLINE_ADMIN_USERNAME: 'admin', THREADLINE_ADMIN_PASSWORD: 'admin password 1' } });
    expect(server.output().stdout).toMatch(/accounts required/);
    const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    // Both admins can sign in: the one created by the command, and the one from the environment.
    await logTrace(server.url, sdkTrace({ session: 'auth-1' }), server.url, basic('root', 'root password 1'));
    await logTrace(server.url, sdkTrace({ session: 'auth-1' }), server.url, basic('admin', 'admin password 1'));
    const token = JSON.parse((await request(server.url, 'POST', '/api/threadline/tokens', JSON.stringify({ name: 'ci' }), basic('admin', 'admin password 1'))).text).token as string;
    await logTrace(server.url, sdkTrace({ session: 'auth-1' }), server.url, `Bearer ${token}`);

    const anonymous = await createTrace(server.url, sdkTrace({ session: 'auth-1' }));
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.text)).toMatchObject({ error_code: 'UNAUTHENTICATED' });
    const search = (authorization?: string) => request(server.url, 'POST', '/api/threadline/sessions/search', JSON.stringify({ experiment_id: '0' }), authorization);
    expect((await search()).status).toBe(401);
    expect(JSON.parse((await search(`Bearer ${token}`)).text).sessions).toEqual([expect.objectContaining({ session_id: 'auth-1', trace_count: 3 })]);
    expect(await request(server.url, 'GET', '/health')).toEqual({ status: 200, text: 'OK' });
    await server.stop();
  });
});

// ---- durability on one SQLite file --------------------------------------------------------------

describe('threadline server on a SQLite file: restart and kill -9', () => {
  it('keeps trace info, metadata, tags and exact spans across a restart', async () => {
    const { uri } = tempSqliteUri();
    const traces = [
      sdkTrace({ session: 'sess-1', user: 'user-1', clientRequestId: 'req-42', metadata: { 'app.version': '1.2' }, tags: { fruit: 'apple' }, tokens: { input_tokens: 3, output_tokens: 4, total_tokens: 7 } }),
      sdkTrace({ session: 'sess-1', user: 'user-1', tags: { fruit: 'pear', color: 'green' }, tokens: { input_tokens: 10, output_tokens: 20, total_tokens: 30 } }),
      sdkTrace({ session: 'sess-2', user: 'user-2', state: 'ERROR', rootName: 'failing' }),
      sdkTrace({ tags: {} }),
    ];
    const first = await startServerProcess({ backendStoreUri: uri });
    for (const spec of traces) await logTrace(first.url, spec);
    // Tags stay mutable after logging; the changes must survive too.
    expect((await request(first.url, 'PATCH', `/api/3.0/mlflow/traces/${traces[0]!.traceId}/tags`, JSON.stringify({ key: 'reviewed', value: 'yes' }))).status).toBe(200);
    expect((await request(first.url, 'DELETE', `/api/3.0/mlflow/traces/${traces[1]!.traceId}/tags`, JSON.stringify({ key: 'color' }))).status).toBe(200);
    const tagChanges = (i: number) => (i === 0 ? { set: { reviewed: 'yes' } } : i === 1 ? { deleted: ['color'] } : {});
    for (const [i, spec] of traces.entries()) await expectStoredTrace(first.url, spec, tagChanges(i));

    expect(await first.stop()).toEqual({ code: 0, signal: null });

    const second = await startServerProcess({ backendStoreUri: uri });
    for (const [i, spec] of traces.entries()) await expectStoredTrace(second.url, spec, tagChanges(i));
  });

  it('after kill -9 right behind the last 200, every acknowledged trace is there with its spans, its words and its rollups', { timeout: 60_000 }, async () => {
    const { uri, path } = tempSqliteUri();
    const specs = Array.from({ length: 240 }, (_, i) => sdkTrace({ session: `sess-${i % 4}`, user: `user-${i % 3}`, tokens: { input_tokens: i, output_tokens: 1, total_tokens: i + 1 } }));
    const KILL_AFTER = 150;
    const server = await startServerProcess({ backendStoreUri: uri });
    const created = new Set<string>();
    const acknowledged = new Set<string>();
    let killed: Promise<unknown> | undefined;

    // 32 SDK exports in flight at once, as bench:ingest sends them: commits shared by many
    // requests, the text index written at each commit, checkpoints on their own thread; the kill
    // lands while others are mid-request.
    await mapConcurrent(specs, 32, async (spec) => {
      if (killed) return;
      try {
        const reply = await createTrace(server.url, spec);
        if (reply.status !== 200 || !reply.artifactLocation) throw new Error(`create: HTTP ${reply.status} ${reply.text}`);
        created.add(spec.traceId);
        if (killed) return;
        const upload = await uploadSpans(server.url, spec, reply.artifactLocation);
        if (upload.status !== 200) throw new Error(`upload: HTTP ${upload.status} ${upload.text}`);
        acknowledged.add(spec.traceId);
        // Synchronously on receipt of the 200: no time for the server to do anything more.
        if (acknowledged.size === KILL_AFTER) killed = server.kill();
      } catch (error) {
        if (!killed) throw error;
      }
    });
    expect(killed).toBeDefined();
    expect(await server.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(acknowledged.size).toBeGreaterThanOrEqual(KILL_AFTER);

    const restarted = await startServerProcess({ backendStoreUri: uri });
    for (const spec of specs) {
      if (acknowledged.has(spec.traceId)) {
        await expectStoredTrace(restarted.url, spec);
      } else if (created.has(spec.traceId)) {
        const info = await request(restarted.url, 'GET', `/api/3.0/mlflow/traces/${spec.traceId}`);
        expect(info.status, `trace ${spec.traceId} was created with a 200 but is gone: ${info.text}`).toBe(200);
      }
    }
    // Each acknowledged trace is found by the words of its request.
    const question = (spec: TraceSpec) => (JSON.parse(spec.requestPreview) as { question: string }).question;
    for (const spec of specs.filter((s) => acknowledged.has(s.traceId)).slice(0, 20)) {
      const found = await request(restarted.url, 'POST', '/api/3.0/mlflow/traces/search', JSON.stringify({ locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }], filter: `trace.text MATCH '"${question(spec)}"'` }));
      expect((JSON.parse(found.text) as { traces?: { trace_id: string }[] }).traces?.map((t) => t.trace_id), question(spec)).toEqual([spec.traceId]);
    }
    await restarted.stop();
    // The text index matches its documents, none is left waiting, and the rollups match a recount.
    const db = new Database(path, { fileMustExist: true });
    cleanups.push(() => void db.close());
    db.prepare("INSERT INTO trace_text_index (trace_text_index, rank) VALUES ('integrity-check', 1)").run();
    expect(db.prepare('SELECT count(*) AS n FROM trace_text_pending').get()).toEqual({ n: 0 });
    const sessions = db.prepare('SELECT session_id, trace_count, total_tokens FROM sessions ORDER BY session_id').all();
    const recounted = db.prepare('SELECT session_id, count(*) AS trace_count, sum(coalesce(total_tokens, 0)) AS total_tokens FROM traces WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY session_id').all();
    expect(sessions).toEqual(recounted);
    expect(db.prepare('SELECT sum(trace_count) AS n FROM trace_hours').get()).toEqual(db.prepare('SELECT count(*) AS n FROM traces').get());
  });
});

// ---- several replicas on one database -----------------------------------------------------------

/** A rollup row as the store keeps it (DESIGN.md §4), within one experiment. */
type SessionRollup = Omit<SessionsTable, 'experiment_id'>;
type UserRollup = Omit<UsersTable, 'experiment_id'>;

const SESSION_COLUMNS: (keyof SessionRollup)[] = [
  'session_id', 'first_time', 'last_time', 'last_end_time', 'trace_count', 'error_count', 'input_tokens', 'output_tokens', 'total_tokens',
  'user_count', 'first_trace_id', 'first_request_preview', 'last_trace_id', 'last_response_preview', 'cost_nanos',
];
const USER_COLUMNS: (keyof UserRollup)[] = ['user_id', 'first_time', 'last_time', 'trace_count', 'session_count', 'error_count', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_nanos'];

/** Both databases hand bigint columns back as strings or bigints: compare as numbers. */
function normalise<T>(rows: Record<string, unknown>[], textColumns: readonly string[]): T[] {
  return rows.map(
    (row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, textColumns.includes(k) || v === null ? v : Number(v)])) as T,
  );
}

/** The rollups the traces imply, computed here the slow and obvious way. */
function expectedRollups(specs: readonly TraceSpec[]): { sessions: SessionRollup[]; users: UserRollup[] } {
  const before = (a: TraceSpec, b: TraceSpec) => a.requestTimeMs < b.requestTimeMs || (a.requestTimeMs === b.requestTimeMs && a.traceId < b.traceId);
  const sum = (of: TraceSpec[], key: 'input_tokens' | 'output_tokens' | 'total_tokens') => of.reduce((n, s) => n + (s.tokens?.[key] ?? 0), 0);
  const groups = (key: 'session' | 'user') => {
    const out = new Map<string, TraceSpec[]>();
    for (const spec of specs) if (spec[key] !== undefined) out.set(spec[key]!, [...(out.get(spec[key]!) ?? []), spec]);
    return [...out].sort(([a], [b]) => (a < b ? -1 : 1));
  };
  const common = (of: TraceSpec[]) => ({
    first_time: Math.min(...of.map((s) => s.requestTimeMs)),
    last_time: Math.max(...of.map((s) => s.requestTimeMs)),
    trace_count: of.length,
    error_count: of.filter((s) => s.state === 'ERROR').length,
    input_tokens: sum(of, 'input_tokens'),
    output_tokens: sum(of, 'output_tokens'),
    total_tokens: sum(of, 'total_tokens'),
    cost_nanos: 0,
  });
  const sessions = groups('session').map(([session_id, of]): SessionRollup => {
    const first = of.reduce((a, b) => (before(b, a) ? b : a));
    const last = of.reduce((a, b) => (before(a, b) ? b : a));
    return {
      session_id,
      ...common(of),
      last_end_time: Math.max(...of.map((s) => s.requestTimeMs + s.executionDurationMs)),
      user_count: new Set(of.flatMap((s) => s.user ?? [])).size,
      first_trace_id: first.traceId,
      first_request_preview: first.requestPreview,
      last_trace_id: last.traceId,
      last_response_preview: last.responsePreview,
    };
  });
  const users = groups('user').map(([user_id, of]): UserRollup => ({ user_id, ...common(of), session_count: new Set(of.flatMap((s) => s.session ?? [])).size }));
  return { sessions, users };
}

/**
 * 10 sessions, 5 users, every session shared by several users; some traces have no session or
 * no user, some are errors, some have no token usage; groups of four traces of one session start
 * in the same millisecond, so first/last are decided by trace id.
 */
function replicaWorkload(experimentId: string, count: number): TraceSpec[] {
  const base = Date.parse('2026-11-23T10:00:00.000Z');
  return Array.from({ length: count }, (_, i) =>
    sdkTrace({
      experimentId,
      ...(i % 17 === 16 ? {} : { session: `sess-${i % 10}` }),
      ...(i % 23 === 22 ? {} : { user: `user-${(i + Math.floor(i / 20)) % 5}` }),
      state: i % 7 === 3 ? 'ERROR' : 'OK',
      ...(i % 11 === 5 ? {} : { tokens: { input_tokens: 10 + (i % 13), output_tokens: 20 + (i % 7), total_tokens: 30 + (i % 13) + (i % 7) } }),
      requestTimeMs: base + ((i * 37) % 50) * 1000,
      executionDurationMs: 3 + (i % 9) * 111,
      clientRequestId: `req-${i}`,
      tags: { fruit: i % 2 ? 'apple' : 'pear' },
    }),
  );
}

/**
 * Sends the workload as SDKs behind a round-robin load balancer would: creates alternate
 * between replicas, and a trace's span upload often lands on the other replica. Every tenth
 * trace is created on both replicas at once with the same body (a retry racing the original);
 * a few span uploads are doubled the same way.
 */
async function sendThroughReplicas(servers: [ServerProcess, ServerProcess], specs: TraceSpec[]): Promise<void> {
  await withServerLogs(servers, mapConcurrent(specs, 16, async (spec, i) => {
    const createOn = servers[i % 2]!.url;
    const uploadOn = servers[(i >> 1) % 2]!.url;
    if (i % 10 !== 9) {
      await logTrace(createOn, spec, uploadOn);
    } else {
      const replies = await Promise.all(servers.map((s) => createTrace(s.url, spec)));
      for (const reply of replies) expect(reply.status, `raced create of ${spec.traceId}: ${reply.text}`).toBe(200);
      const uploads = await Promise.all(
        (i % 20 === 19 ? servers : [servers[0]]).map((s, n) => uploadSpans(s.url, spec, replies[n]!.artifactLocation!)),
      );
      for (const reply of uploads) expect(reply.status, `upload of ${spec.traceId}: ${reply.text}`).toBe(200);
    }
  }));
}

/** A failure here is a server's 500 more often than not: say what the servers logged. */
async function withServerLogs<T>(servers: readonly ServerProcess[], work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    // pino writes asynchronously: let the servers' last lines arrive.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const logs = servers.map((s, n) => `--- replica ${n} (pid ${s.pid}) ---\n${(s.output().stdout + s.output().stderr).slice(-3000)}`).join('\n');
    (error as Error).message += `\n${logs}`;
    throw error;
  }
}

/** Every trace through both replicas, then the rollup rows against the ones computed here. */
async function verifyReplicas(
  servers: [ServerProcess, ServerProcess],
  specs: TraceSpec[],
  experimentId: string,
  query: (sql: string) => Promise<Record<string, unknown>[]>,
): Promise<void> {
  await mapConcurrent(specs, 16, async (spec) => {
    for (const server of servers) await expectStoredTrace(server.url, spec);
  });

  const [traceCount] = await query(`SELECT COUNT(*) AS n FROM traces WHERE experiment_id = ${experimentId}`);
  expect(Number(traceCount!.n)).toBe(specs.length);
  const [metadataRows] = await query(`SELECT COUNT(*) AS n FROM trace_metadata WHERE key = 'mlflow.trace_schema.version'`);
  expect(Number(metadataRows!.n)).toBe(specs.length);

  const expected = expectedRollups(specs);
  const sessions = normalise<SessionRollup>(
    await query(`SELECT ${SESSION_COLUMNS.join(', ')} FROM sessions WHERE experiment_id = ${experimentId}`),
    ['session_id', 'first_trace_id', 'first_request_preview', 'last_trace_id', 'last_response_preview'],
  ).sort((a, b) => (a.session_id < b.session_id ? -1 : 1));
  const users = normalise<UserRollup>(await query(`SELECT ${USER_COLUMNS.join(', ')} FROM users WHERE experiment_id = ${experimentId}`), ['user_id']).sort(
    (a, b) => (a.user_id < b.user_id ? -1 : 1),
  );
  expect(sessions).toEqual(expected.sessions);
  expect(users).toEqual(expected.users);
  expect(expected.sessions).toHaveLength(10);
  expect(expected.users).toHaveLength(5);
  // The hourly rollup adds up to the traces, hour by hour, however the writers interleaved.
  const numbers = (rows: Record<string, unknown>[]) => rows.map((r) => Object.values(r).map(Number));
  const hours = await query(`SELECT hour_start AS h, SUM(trace_count) AS n, SUM(error_count) AS e, SUM(total_tokens) AS t
    FROM trace_hours WHERE experiment_id = ${experimentId} GROUP BY hour_start HAVING SUM(trace_count) <> 0 ORDER BY hour_start`);
  const tracesByHour = await query(`SELECT request_time - request_time % 3600000 AS h, COUNT(*) AS n, SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END) AS e,
    SUM(COALESCE(total_tokens, 0)) AS t FROM traces WHERE experiment_id = ${experimentId} GROUP BY request_time - request_time % 3600000 ORDER BY 1`);
  expect(numbers(hours)).toEqual(numbers(tracesByHour));
  expect(numbers(hours).reduce((sum, [, n]) => sum + n!, 0)).toBe(specs.length);
  // Nothing leaked into another experiment.
  const [stray] = await query(`SELECT (SELECT COUNT(*) FROM sessions WHERE experiment_id <> ${experimentId}) + (SELECT COUNT(*) FROM users WHERE experiment_id <> ${experimentId}) AS n`);
  expect(Number(stray!.n)).toBe(0);
}

async function createExperiment(server: ServerProcess, name: string): Promise<string> {
  const reply = await request(server.url, 'POST', '/api/2.0/mlflow/experiments/create', JSON.stringify({ name }));
  expect(reply.status, reply.text).toBe(200);
  return (JSON.parse(reply.text) as { experiment_id: string }).experiment_id;
}

describe.skipIf(!postgresOk)('two threadline replicas on one PostgreSQL schema', () => {
  it('store every interleaved trace once, with spans, and keep the session, user and hourly rollups exact', { timeout: 60_000 }, async () => {
    const schema = await createPostgresSchema();
    cleanups.push(() => schema.drop());
    // Both start at once: their migrations race on the empty schema.
    const servers = (await Promise.all([startServerProcess({ backendStoreUri: schema.uri }), startServerProcess({ backendStoreUri: schema.uri })])) as [
      ServerProcess,
      ServerProcess,
    ];
    // Created on one replica, used through both: the other learns of it from the database.
    const experimentId = await createExperiment(servers[0], 'replicas');
    const specs = replicaWorkload(experimentId, 200);
    await sendThroughReplicas(servers, specs);

    const client = new pg.Client({ connectionString: schema.uri });
    await client.connect();
    cleanups.push(() => client.end());
    await client.query(`SET search_path TO ${schema.schema}`);
    await verifyReplicas(servers, specs, experimentId, async (sql) => (await client.query(sql)).rows as Record<string, unknown>[]);
  });
});

describe('two threadline processes on one SQLite file (WAL)', () => {
  it('store every interleaved trace once, with spans, and keep the session, user and hourly rollups exact', { timeout: 60_000 }, async () => {
    const { uri, path } = tempSqliteUri();
    // The first creates the file and its schema; the second opens it as it stands.
    const first = await startServerProcess({ backendStoreUri: uri });
    const servers: [ServerProcess, ServerProcess] = [first, await startServerProcess({ backendStoreUri: uri })];
    const experimentId = await createExperiment(servers[1], 'replicas');
    const specs = replicaWorkload(experimentId, 100);
    await sendThroughReplicas(servers, specs);

    const db = new Database(path, { readonly: true, fileMustExist: true });
    cleanups.push(() => void db.close());
    await verifyReplicas(servers, specs, experimentId, async (sql) => db.prepare(sql).all() as Record<string, unknown>[]);
  });
});
