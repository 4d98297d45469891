import { copyFileSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createApp } from '../src/http/app.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { JSON_HEADERS } from './support/test-app.js';

/**
 * A SQLite file deleted or replaced under a running server: SQLite would go on writing into the
 * file it has open, which no longer has a name, so every trace acknowledged after that would be
 * lost when the server stops. Readiness says why, and writes get 503 (clients keep them and send
 * them again) instead of being acknowledged.
 */
let dir: string;
let path: string;
let store: KyselyTraceStore;
let app: FastifyInstance;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'threadline-db-file-'));
  path = join(dir, 'traces.db');
  store = await openSqliteStore({ path });
  app = await createApp({ store });
});
afterEach(async () => {
  await app.close();
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const logTrace = (traceId = newTraceId()) => app.inject({ method: 'POST', url: '/api/3.0/mlflow/traces', headers: JSON_HEADERS, payload: startTraceBody({ traceId }) });
const ready = () => app.inject({ method: 'GET', url: '/health/ready' });

it('refuses writes and is not ready once its file is deleted, saying why', async () => {
  expect((await logTrace()).statusCode).toBe(200);
  expect((await ready()).statusCode).toBe(200);
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });

  const notReady = await ready();
  expect(notReady.statusCode).toBe(503);
  expect(notReady.body).toMatch(/the database file was deleted while the server ran/);
  const refused = await logTrace();
  expect(refused.statusCode, refused.body).toBe(503);
  expect(refused.json()).toMatchObject({ error_code: 'TEMPORARILY_UNAVAILABLE', message: expect.stringMatching(/nothing was stored/) });
  expect(refused.headers['retry-after']).toBeDefined();
  // Reads of what the open file holds still answer; the server stays up.
  expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
});

it('refuses writes once its file is replaced by another, and keeps nothing of them in either file', async () => {
  const kept = newTraceId();
  expect((await logTrace(kept)).statusCode).toBe(200);
  // A restore copied over the path: the same name, another file (a copy of this one, its WAL
  // copied into it first).
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(store.db);
  const copy = join(dir, 'restored.db');
  copyFileSync(path, copy);
  renameSync(copy, path);

  const lost = newTraceId();
  const refused = await logTrace(lost);
  expect(refused.statusCode, refused.body).toBe(503);
  expect(refused.json().error_code).toBe('TEMPORARILY_UNAVAILABLE');
  expect((await ready()).body).toMatch(/was replaced by another file/);
  // Neither the file the store has open nor the one now at its path holds the refused trace.
  expect(await store.getTrace(kept)).toBeDefined();
  expect(await store.getTrace(lost)).toBeUndefined();
  const restored = new BetterSqlite3(path, { readonly: true });
  try {
    expect(restored.prepare('SELECT trace_id FROM traces ORDER BY trace_id').all()).toEqual([{ trace_id: kept }]);
  } finally {
    restored.close();
  }
});
