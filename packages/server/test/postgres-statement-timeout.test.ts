import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createApp } from '../src/http/app.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import { createPostgresSchema, POSTGRES_URL, postgresOk } from './support/databases.js';
import { newTraceId, startTraceBody, tracesJsonPath } from './support/mlflow-payloads.js';
import { JSON_HEADERS } from './support/test-app.js';

/**
 * PostgreSQL stops a search at the store's time limit (statement_timeout) and the server answers
 * it like SQLite's own limit: a 400 asking for a narrower filter, while other requests go on.
 */
describe.skipIf(!postgresOk)('a search past the time limit on PostgreSQL', () => {
  let store: KyselyTraceStore;
  let app: FastifyInstance;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const schema = await createPostgresSchema();
    drop = schema.drop;
    // One span whose inputs are 8 MiB of 'a': a LIKE with a long literal after '%' costs length × pattern.
    // Stored through a store with the default limit: under CI's load, storing and indexing 8 MiB
    // can itself take longer than the 300 ms the search below is given.
    const writer = await openPostgresStore({ connectionString: POSTGRES_URL, schema: schema.schema, maxConnections: 2 });
    const writerApp = await createApp({ store: writer });
    try {
      const traceId = newTraceId();
      expect((await writerApp.inject({ method: 'POST', url: '/api/3.0/mlflow/traces', headers: JSON_HEADERS, payload: JSON.stringify(startTraceBody({ traceId })) })).statusCode).toBe(200);
      const big = 'a'.repeat(8 * 1024 * 1024);
      const spans = `{"spans":[{"trace_id":"x","span_id":"8MA1SDFQpsg=","parent_span_id":"","name":"root","start_time_unix_nano":1795463486775000000,"end_time_unix_nano":1795463486777000000,"status":{"code":"STATUS_CODE_OK","message":""},"attributes":{"mlflow.traceRequestId":"${traceId}","mlflow.spanType":"CHAIN","mlflow.spanInputs":"${big}"},"events":[]}]}`;
      const stored = await writerApp.inject({ method: 'PUT', url: tracesJsonPath(traceId), headers: JSON_HEADERS, payload: spans });
      expect(stored.statusCode, stored.body).toBe(200);
    } finally {
      await writerApp.close();
      await writer.close();
    }
    store = await openPostgresStore({ connectionString: POSTGRES_URL, schema: schema.schema, maxConnections: 4, queryTimeoutMillis: 300 });
    app = await createApp({ store });
  }, 60_000);
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await drop?.();
  });

  it('answers 400 with the time-limit message, and the next request is served', async () => {
    const filter = `span.content LIKE '%${'a'.repeat(190)}b%'`;
    const slow = await app.inject({
      method: 'POST',
      url: '/api/3.0/mlflow/traces/search',
      headers: JSON_HEADERS,
      payload: JSON.stringify({ locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }], filter }),
    });
    expect(slow.statusCode, slow.body).toBe(400);
    expect(slow.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(/ran longer than the server's limit/) });
    expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
  });
});
