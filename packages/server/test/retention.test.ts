import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresStore } from '../src/store/postgres/postgres-store.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { RETENTION_TAG } from '../src/store/retention.js';
import { createPostgresSchema, describeEachDatabase, POSTGRES_URL, postgresOk } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { recountedRollups, storedRollups } from './support/rollup-recount.js';
import { hexSpanId, hexTraceId, otlpRequest } from './support/otlp-payloads.js';
import { startServerProcess, stopAllServerProcesses } from './support/server-process.js';
import { useTestApp } from './support/test-app.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 5, 12);

/** Traces `ages` days old (one per age), of users u0..u2 and sessions s0..s3, with an LLM call each. */
async function logAged(store: KyselyTraceStore, experimentId: string, ages: readonly number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, age] of ages.entries()) {
    const traceId = `tr-${hexTraceId()}`;
    const start = NOW - age * DAY;
    await store.ingestSpans(experimentId, traceId, { metadata: { 'mlflow.trace.user': `u${i % 3}`, 'mlflow.trace.session': `s${i % 4}` }, tags: {}, name: null }, [
      { spanId: hexSpanId(), parentSpanId: null, name: 'chat', type: 'LLM', status: 'OK', statusMessage: '', startNs: BigInt(start) * 1_000_000n, endNs: BigInt(start + 7) * 1_000_000n, events: [], attributes: { 'mlflow.llm.model': 'gpt-4o-mini', 'mlflow.llm.provider': 'openai', 'mlflow.chat.tokenUsage': { input_tokens: 100, output_tokens: 10, total_tokens: 110 } } },
    ]);
    ids.push(traceId);
  }
  return ids;
}

const ages = (from: number, to: number, step: number) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => from + i * step);

describeEachDatabase('retention', (database) => {
  const t = useTestApp(database);

  it('deletes exactly the traces older than the retention, keeping every rollup exact, and only where set', async () => {
    const kept = (await t.post('/api/2.0/mlflow/experiments/create', { name: `keep-${newTraceId()}` })).json().experiment_id;
    const limited = (await t.post('/api/2.0/mlflow/experiments/create', { name: `limited-${newTraceId()}` })).json().experiment_id;
    const limitedIds = await logAged(t.store, limited, ages(0.25, 10, 0.25));
    await logAged(t.store, kept, ages(1, 10, 1));
    // A conversation all of whose turns are old, rated as a whole: its rating goes with it.
    const old = `tr-${hexTraceId()}`;
    await t.store.ingestSpans(limited, old, { metadata: { 'mlflow.trace.user': 'u9', 'mlflow.trace.session': 's-old' }, tags: {}, name: null }, [
      { spanId: hexSpanId(), parentSpanId: null, name: 'turn', type: 'CHAIN', status: 'OK', statusMessage: '', startNs: BigInt(NOW - 20 * DAY) * 1_000_000n, endNs: BigInt(NOW - 20 * DAY + 5) * 1_000_000n, events: [], attributes: {} },
    ]);
    const rated = await t.post('/api/threadline/sessions/s-old/assessments', { experiment_id: limited, assessment: { assessment_name: 'resolved', feedback: { value: false }, source: { source_type: 'HUMAN', source_id: 'u9' } } });
    expect(rated.statusCode, rated.body).toBe(200);
    const set = await t.post('/api/2.0/mlflow/experiments/set-experiment-tag', { experiment_id: limited, key: RETENTION_TAG, value: '3' });
    expect(set.statusCode, set.body).toBe(200);

    const deleted = await t.store.retention.runOnce('replica-a', { now: NOW, batchSize: 7 });
    // Ages 3.25 .. 10 in steps of 0.25: 28 traces, and s-old's; exactly 3 days old stays.
    expect(deleted).toEqual({ [limited]: 29 });
    expect(await t.store.db.selectFrom('assessments').select('assessment_id').where('experiment_id', '=', Number(limited)).execute()).toEqual([]);
    const left = await t.store.db.selectFrom('traces').select(['trace_id', 'request_time']).where('experiment_id', '=', Number(limited)).execute();
    expect(left.map((r) => r.trace_id).sort()).toEqual(limitedIds.slice(0, 12).sort());
    expect(Math.min(...left.map((r) => Number(r.request_time)))).toBe(NOW - 3 * DAY);
    expect(await t.store.db.selectFrom('traces').select('trace_id').where('experiment_id', '=', Number(kept)).execute()).toHaveLength(10);
    for (const experiment of [limited, kept]) expect(await storedRollups(t.store.db, Number(experiment))).toEqual(await recountedRollups(t.store.db, Number(experiment)));
    // A second pass finds nothing more.
    expect(await t.store.retention.runOnce('replica-a', { now: NOW })).toEqual({});
  });

  it('takes only a whole number of days, from whoever manages the experiment', async () => {
    const experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: `bad-${newTraceId()}` })).json().experiment_id;
    for (const value of ['0', '-1', '1.5', 'forever', '99999999']) {
      const res = await t.post('/api/2.0/mlflow/experiments/set-experiment-tag', { experiment_id: experiment, key: RETENTION_TAG, value });
      expect(res.statusCode, value).toBe(400);
      expect(res.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
    }
    const tags = (await t.get(`/api/2.0/mlflow/experiments/get?experiment_id=${experiment}`)).json().experiment.tags ?? [];
    expect(tags.filter((tag: { key: string }) => tag.key === RETENTION_TAG)).toEqual([]);
  });
});

describe.skipIf(!postgresOk)('retention with two replicas on one PostgreSQL schema', () => {
  let stores: KyselyTraceStore[] = [];
  let drop: () => Promise<void> = async () => undefined;
  beforeAll(async () => {
    const created = await createPostgresSchema();
    drop = created.drop;
    stores = [await openPostgresStore({ connectionString: POSTGRES_URL, schema: created.schema, maxConnections: 4 }), await openPostgresStore({ connectionString: POSTGRES_URL, schema: created.schema, maxConnections: 4 })];
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    await drop();
  });

  it('lets one replica do the work while the other stands by, and the other take over when it stops', async () => {
    const [a, b] = stores as [KyselyTraceStore, KyselyTraceStore];
    const experiment = await a.createExperiment({ name: 'retained' });
    await a.setExperimentTag(experiment, RETENTION_TAG, '2');
    await logAged(a, experiment, ages(0.5, 12, 0.5));
    const [first, second] = await Promise.all([a.retention.runOnce('replica-a', { now: NOW, batchSize: 3 }), b.retention.runOnce('replica-b', { now: NOW, batchSize: 3 })]);
    // Exactly one ran the pass, and deleted ages 2.5 .. 12 (20 traces).
    expect([first, second].filter((r) => r === undefined)).toHaveLength(1);
    expect(first ?? second).toEqual({ [experiment]: 20 });
    expect(await storedRollups(a.db, Number(experiment))).toEqual(await recountedRollups(a.db, Number(experiment)));
    // The holder stops; the other takes over at once and finds the older traces that came meanwhile.
    await (first ? a : b).retention.release(first ? 'replica-a' : 'replica-b');
    await logAged(a, experiment, [5, 6]);
    expect(await (first ? b : a).retention.runOnce(first ? 'replica-b' : 'replica-a', { now: NOW })).toEqual({ [experiment]: 2 });
  });
});

describe('retention in a running server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'threadline-retention-'));
  afterAll(async () => {
    await stopAllServerProcesses();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes traces that are older than the retention on its own schedule', { timeout: 60_000 }, async () => {
    const server = await startServerProcess({ backendStoreUri: `sqlite:///${join(dir, 'store.db')}`, env: { THREADLINE_RETENTION_INTERVAL_MS: '200' } });
    const post = (path: string, body: unknown) => fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const now = Date.now();
    const spans = [10, 5, 1].map((days) => ({ traceId: hexTraceId(), spanId: hexSpanId(), startMs: now - days * DAY, attributes: { 'user.id': `u-${days}` } }));
    expect((await post('/v1/traces', otlpRequest(spans))).status).toBe(200);
    expect((await post('/api/2.0/mlflow/experiments/set-experiment-tag', { experiment_id: '0', key: RETENTION_TAG, value: '3' })).status).toBe(200);
    let users: string[] = [];
    for (let i = 0; i < 100; i++) {
      users = ((await (await post('/api/threadline/users/search', { experiment_id: '0', order_by: ['user_id ASC'] })).json()) as { users: { user_id: string }[] }).users.map((u) => u.user_id);
      if (users.length === 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(users).toEqual(['u-1']);
    await server.stop();
  });
});
