import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../src/http/app.js';
import { DirectTransactions } from '../src/store/group-commit.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import { createPostgresSchema, POSTGRES_URL, postgresOk } from './support/databases.js';
import { newTraceId, startTraceBody, tracesJsonPath, tracesJsonText } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest } from './support/otlp-payloads.js';
import { TcpProxy } from './support/tcp-proxy.js';
import { JSON_HEADERS } from './support/test-app.js';

/**
 * Real database faults, not simulated ones: PostgreSQL reached through a TCP proxy that the test
 * cuts and restores (a failover or restart as the server sees it), and a real deadlock between
 * two transactions. The shared PostgreSQL server itself is never touched.
 * (bench/faults, run by bench/test/faults.test.ts, terminates backends under load.)
 */
describe.skipIf(!postgresOk)('PostgreSQL going away and coming back', () => {
  let proxy: TcpProxy;
  let store: KyselyTraceStore;
  let app: FastifyInstance;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const target = new URL(POSTGRES_URL);
    proxy = await TcpProxy.start(Number(target.port || 5432), target.hostname);
    const schema = await createPostgresSchema();
    drop = schema.drop;
    const viaProxy = new URL(POSTGRES_URL);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    store = await openPostgresStore({ connectionString: viaProxy.toString(), schema: schema.schema, maxConnections: 4, connectTimeoutMillis: 1000 });
    app = await createApp({ store });
  });

  afterAll(async () => {
    await app?.close();
    await store?.close();
    await proxy?.close();
    await drop?.();
  });

  const post = (url: string, body: unknown) => app.inject({ method: 'POST', url, headers: JSON_HEADERS, payload: JSON.stringify(body) });
  const logTrace = async (traceId: string) => {
    const created = await post('/api/3.0/mlflow/traces', startTraceBody({ traceId, session: 's-1', user: 'u-1' }));
    if (created.statusCode !== 200) return created;
    return app.inject({ method: 'PUT', url: tracesJsonPath(traceId), headers: JSON_HEADERS, payload: tracesJsonText(traceId) });
  };

  it('answers 503 with Retry-After on every path while it is unreachable, stays alive, and recovers with nothing lost', async () => {
    const before = newTraceId();
    expect((await logTrace(before)).statusCode).toBe(200);

    await proxy.cut();
    const refused = [
      await post('/api/3.0/mlflow/traces', startTraceBody({ traceId: newTraceId() })),
      await app.inject({ method: 'PUT', url: tracesJsonPath(before), headers: JSON_HEADERS, payload: tracesJsonText(before) }),
      await post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }] }),
      await app.inject({ method: 'GET', url: `/api/3.0/mlflow/traces/${before}` }),
    ];
    for (const reply of refused) {
      expect(reply.statusCode, reply.body).toBe(503);
      expect(reply.headers['retry-after']).toBe('2');
      expect(reply.json()).toMatchObject({ error_code: 'TEMPORARILY_UNAVAILABLE' });
    }
    const otlp = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId(), attributes: { 'session.id': 's-2' } }])),
    });
    // OTLP exporters retry 503 (and honour Retry-After); they drop a trace on a 500.
    expect(otlp.statusCode, otlp.body).toBe(503);
    expect(otlp.headers['retry-after']).toBe('2');
    expect(otlp.json()).toMatchObject({ code: 14 });

    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    const notReady = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(notReady.statusCode).toBe(503);
    expect(notReady.body).toMatch(/^Not ready: the database/);

    await proxy.restore();
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    const after = newTraceId();
    expect((await logTrace(after)).statusCode).toBe(200);
    expect((await store.getTraces([before, after])).map((t) => [t.traceId, t.spanCount])).toEqual([
      [before, 2],
      [after, 2],
    ]);
  });

  it('runs a transaction again when PostgreSQL picks it as a deadlock victim, so both callers succeed', { timeout: 20_000 }, async () => {
    await sql`CREATE TABLE deadlock_pair (id int PRIMARY KEY, v int NOT NULL)`.execute(store.db);
    await sql`INSERT INTO deadlock_pair VALUES (1, 0), (2, 0)`.execute(store.db);
    const runner = new DirectTransactions(store.db);
    let attempts = 0;
    let arrived = 0;
    let bothHoldOneRow!: () => void;
    const barrier = new Promise<void>((resolve) => (bothHoldOneRow = resolve));
    // Each locks one row, waits until the other holds the other row, then asks for it.
    const crossing = (first: number, second: number) =>
      runner.run(async (trx) => {
        attempts++;
        await sql`UPDATE deadlock_pair SET v = v + 1 WHERE id = ${first}`.execute(trx);
        if (++arrived === 2) bothHoldOneRow();
        await barrier;
        await sql`UPDATE deadlock_pair SET v = v + 1 WHERE id = ${second}`.execute(trx);
      });
    await Promise.all([crossing(1, 2), crossing(2, 1)]);
    expect(attempts).toBe(3);
    const { rows } = await sql<{ v: number }>`SELECT v FROM deadlock_pair ORDER BY id`.execute(store.db);
    expect(rows.map((r) => r.v)).toEqual([2, 2]);
  });
});
