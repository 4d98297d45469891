import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type AppOptions } from '../src/http/app.js';
import type { TraceChange } from '../src/store/change-feed.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import type { PostgresChangeFeed } from '../src/store/postgres/postgres-change-feed.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import { createPostgresSchema, describeEachDatabase, POSTGRES_URL, postgresOk, type TestStore } from './support/databases.js';
import { readEventStream, type EventStreamReader } from './support/event-stream.js';
import { newTraceId, startTraceBody, tracesJsonPath, tracesJsonText } from './support/mlflow-payloads.js';
import { traceRecord } from './support/store-inputs.js';

/**
 * Live updates (issue "Live"): the events endpoint streams an experiment's changes over a real
 * socket as they commit, filtered by session, merged in bursts, bounded, cleaned up when the
 * client leaves; on PostgreSQL, from every replica writing to the same schema.
 */

/**
 * The app on `store`, listening on a loopback port: what an EventSource talks to. Node's fetch
 * opens a spare connection when a stream is aborted, which sends nothing and would hold
 * `app.close()` until the idle timeout: a short one here.
 */
async function listeningApp(store: KyselyTraceStore, options: Partial<AppOptions> = {}): Promise<{ app: FastifyInstance; base: string }> {
  const app = await createApp({ store, ui: { distDir: false }, limits: { idleTimeoutMillis: 2_000 }, ...options });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, base: `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}` };
}

const send = async (base: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(base + path, { method, headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
  expect(response.status, `${method} ${path}: ${await response.clone().text()}`).toBe(200);
  return response.json() as Promise<Record<string, unknown>>;
};

/** Opens a stream and waits for its first bytes: from then on, every committed change reaches it. */
async function openStream(url: string): Promise<EventStreamReader> {
  const stream = await readEventStream(url);
  expect(stream.response.status).toBe(200);
  await stream.until((s) => s.events.some((e) => e.event === 'comment' && e.data === 'live'));
  return stream;
}

describeEachDatabase('live updates over server-sent events', (database) => {
  let opened: TestStore;
  let app: FastifyInstance;
  let base: string;
  const streams: EventStreamReader[] = [];
  const open = async (query = '') => {
    const stream = await openStream(`${base}/api/threadline/experiments/0/events${query}`);
    streams.push(stream);
    return stream;
  };

  beforeAll(async () => {
    opened = await database.open();
    // Request limits far shorter than a stream's life: they must not cut it.
    ({ app, base } = await listeningApp(opened.store, {
      limits: { headersTimeoutMillis: 300, requestTimeoutMillis: 600, idleTimeoutMillis: 1_500 },
      live: { heartbeatMillis: 400, maxStreams: 4 },
    }));
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await app?.close();
    await opened?.close();
  });

  it("streams a session's changes in the order they commit, and none of other sessions", async () => {
    const stream = await open('?session_id=conv-1');
    const everything = await open();
    const turn = newTraceId();
    const other = newTraceId();
    await send(base, 'POST', '/api/3.0/mlflow/traces', startTraceBody({ traceId: turn, session: 'conv-1', user: 'alice' }));
    await send(base, 'POST', '/api/3.0/mlflow/traces', startTraceBody({ traceId: other, session: 'conv-2', user: 'bob' }));
    await send(base, 'PUT', tracesJsonPath(turn), tracesJsonText(turn));
    const { assessment } = (await send(base, 'POST', `/api/3.0/mlflow/traces/${turn}/assessments`, {
      assessment: { assessment_name: 'helpful', feedback: { value: true }, source: { source_type: 'HUMAN', source_id: 'alice' } },
    })) as { assessment: { assessment_id: string } };
    await send(base, 'POST', '/api/threadline/sessions/conv-1/assessments', { experiment_id: '0', assessment: { assessment_name: 'resolved', feedback: { value: true }, source: { source_type: 'HUMAN', source_id: 'r' } } });
    await send(base, 'PATCH', `/api/3.0/mlflow/traces/${turn}/tags`, { key: 'reviewed', value: 'yes' });
    await send(base, 'POST', '/api/3.0/mlflow/traces/delete-traces', { experiment_id: '0', request_ids: [turn] });

    const expected = [
      { trace_id: turn, kind: 'trace' },
      { trace_id: turn, kind: 'spans' },
      { trace_id: turn, kind: 'assessment' },
      { trace_id: null, kind: 'assessment' },
      { trace_id: turn, kind: 'trace' },
      { trace_id: turn, kind: 'deleted' },
    ];
    await stream.until((s) => s.changes().length >= expected.length);
    expect(stream.changes()).toEqual(expected.map((e) => ({ experiment_id: '0', session_id: 'conv-1', user_id: e.trace_id ? 'alice' : null, ...e })));
    // Unfiltered, the other session's trace is there too, in its place.
    await everything.until((s) => s.changes().length >= expected.length + 1);
    expect(everything.changes().map((c) => c.trace_id)).toEqual([turn, other, turn, turn, null, turn, turn]);
    expect(assessment.assessment_id).toMatch(/^a-/);
  });

  it('merges a burst into a few events, at most about ten a second', async () => {
    const stream = await open();
    const ids = Array.from({ length: 30 }, () => newTraceId());
    const started = Date.now();
    await Promise.all(ids.map((traceId) => send(base, 'POST', '/api/3.0/mlflow/traces', startTraceBody({ traceId, session: 'burst' }))));
    await stream.until((s) => new Set(s.changes().map((c) => c.trace_id)).size === ids.length);
    const events = stream.events.filter((e) => e.event === 'changes');
    const seconds = (events.at(-1)!.atMs - started) / 1000;
    expect(events.length).toBeLessThanOrEqual(Math.ceil(seconds * 10) + 1);
    for (let i = 1; i < events.length; i++) expect(events[i]!.atMs - events[i - 1]!.atMs).toBeGreaterThanOrEqual(80);
  });

  it('outlives the request and idle timeouts, with heartbeats; slow requests are still cut off', async () => {
    const stream = await open();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(stream.ended).toBe(false);
    expect(stream.events.filter((e) => e.event === 'comment' && e.data === 'heartbeat').length).toBeGreaterThanOrEqual(3);
    // An ordinary request that never finishes its headers is still disconnected.
    const address = app.server.address() as net.AddressInfo;
    const cut = await new Promise<string>((resolve) => {
      const socket = net.connect(address.port, '127.0.0.1', () => socket.write('GET /api/threadline/experiments/0/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAcc'));
      let received = '';
      socket.setEncoding('latin1').on('data', (chunk: string) => (received += chunk));
      socket.on('error', () => {});
      socket.on('close', () => resolve(received));
    });
    expect(cut).toMatch(/^$|^HTTP\/1\.1 408/);
  });

  it('serves a bounded number of streams (503 with Retry-After beyond), freed when clients leave', async () => {
    for (const s of streams.splice(0)) s.close();
    await expect.poll(() => opened.store.changes.listening).toBe(false);
    const four = await Promise.all([open(), open(), open(), open()]);
    const refused = await fetch(`${base}/api/threadline/experiments/0/events`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(await refused.json()).toMatchObject({ error_code: 'TEMPORARILY_UNAVAILABLE' });
    four[0]!.close();
    await expect.poll(async () => {
      const again = await readEventStream(`${base}/api/threadline/experiments/0/events`);
      if (again.response.status === 200) streams.push(again);
      return again.response.status;
    }).toBe(200);
    for (const s of streams.splice(0)) s.close();
    // Nobody watches: the store's feed has no listener, publishing keeps nothing.
    await expect.poll(() => opened.store.changes.listening).toBe(false);
  });

  it('publishes what committed only: a write refused or rolled back (alone in its savepoint, in a group commit) says nothing', async () => {
    const heard: TraceChange[] = [];
    const subscription = opened.store.changes.subscribe({ changed: (changes) => heard.push(...changes) });
    await subscription.ready;
    try {
      const kept = newTraceId();
      // Sent together: on SQLite they share one transaction, the failing one rolled back to its savepoint.
      const [ok, missing] = await Promise.allSettled([opened.store.startTrace(traceRecord({ traceId: kept, session: 's' })), opened.store.logSpans('tr-does-not-exist', [])]);
      expect(ok.status).toBe('fulfilled');
      expect(missing.status).toBe('rejected');
      // Refused without an error: a trace logged again into another experiment.
      expect((await opened.store.startTrace(traceRecord({ traceId: kept, experimentId: '1' }))).kind).toBe('experiment-conflict');
      await expect.poll(() => heard.length).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(heard).toEqual([{ experimentId: '0', traceId: kept, sessionId: 's', userId: null, kind: 'trace' }]);
    } finally {
      subscription.unsubscribe();
    }
  });

  it('answers 404 for an unknown experiment and 400 for a malformed one', async () => {
    expect((await fetch(`${base}/api/threadline/experiments/424242/events`)).status).toBe(404);
    expect((await fetch(`${base}/api/threadline/experiments/zero/events`)).status).toBe(400);
  });

  it('ends its streams when the server closes, instead of keeping it open', async () => {
    const { app: other, base: otherBase } = await listeningApp(opened.store);
    const stream = await openStream(`${otherBase}/api/threadline/experiments/0/events`);
    const started = Date.now();
    await other.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    await stream.until((s) => s.ended);
  });
});

describe.skipIf(!postgresOk)('live updates across replicas of one PostgreSQL schema', () => {
  let drop: () => Promise<void>;
  let replicaA: KyselyTraceStore;
  let replicaB: KyselyTraceStore;
  let app: FastifyInstance;
  let base: string;
  const feedOfB = () => replicaB.changes as PostgresChangeFeed;

  beforeAll(async () => {
    const created = await createPostgresSchema();
    drop = created.drop;
    const options = { connectionString: POSTGRES_URL, schema: created.schema, maxConnections: 3, listenLingerMillis: 100 };
    replicaA = await openPostgresStore(options);
    replicaB = await openPostgresStore(options);
    // Only replica B serves HTTP here; A stands for another process writing.
    ({ app, base } = await listeningApp(replicaB));
  });
  afterAll(async () => {
    await app?.close();
    await replicaA?.close();
    await replicaB?.close();
    await drop?.();
  });

  it("streams from replica B what replica A writes, and LISTENs only while someone watches", async () => {
    expect(feedOfB().listenerProcessId).toBeUndefined();
    const stream = await openStream(`${base}/api/threadline/experiments/0/events?session_id=conv-a`);
    expect(feedOfB().listenerProcessId).toBeGreaterThan(0);
    const traceIds = [newTraceId(), newTraceId(), newTraceId()];
    for (const traceId of traceIds) await replicaA.startTrace(traceRecord({ traceId, session: 'conv-a', user: 'alice' }));
    await replicaA.startTrace(traceRecord({ traceId: newTraceId(), session: 'conv-other' }));
    await stream.until((s) => s.changes().length >= 3);
    expect(stream.changes()).toEqual(traceIds.map((trace_id) => ({ experiment_id: '0', trace_id, session_id: 'conv-a', user_id: 'alice', kind: 'trace' })));
    stream.close();
    await expect.poll(() => feedOfB().listenerProcessId).toBeUndefined();
  });

  it('opens LISTEN again when its connection is lost, and says changes may have been missed', async () => {
    const stream = await openStream(`${base}/api/threadline/experiments/0/events`);
    const pid = feedOfB().listenerProcessId!;
    await sql`SELECT pg_terminate_backend(${pid})`.execute(replicaA.db);
    await stream.until((s) => s.changes().some((c) => c.kind === 'experiment'));
    expect(feedOfB().listenerProcessId).not.toBe(pid);
    const traceId = newTraceId();
    await replicaA.startTrace(traceRecord({ traceId, session: 'after' }));
    await stream.until((s) => s.changes().some((c) => c.trace_id === traceId));
    stream.close();
  });

  it('keeps changes of another schema in the same database out', async () => {
    const elsewhere = await createPostgresSchema();
    const stranger = await openPostgresStore({ connectionString: POSTGRES_URL, schema: elsewhere.schema, maxConnections: 2 });
    try {
      const stream = await openStream(`${base}/api/threadline/experiments/0/events`);
      const theirs = newTraceId();
      const ours = newTraceId();
      await stranger.startTrace(traceRecord({ traceId: theirs }));
      await replicaA.startTrace(traceRecord({ traceId: ours }));
      await stream.until((s) => s.changes().some((c) => c.trace_id === ours));
      expect(stream.changes().map((c) => c.trace_id)).not.toContain(theirs);
      stream.close();
    } finally {
      await stranger.close();
      await elsewhere.drop();
    }
  });
});
