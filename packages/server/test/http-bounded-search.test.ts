/**
 * Hostile searches found by testing as an operator (DESIGN.md §8, "bounded work everywhere"). Filters
 * past a size limit are answered with a 400 on both stores, refused before any SQL runs; the
 * largest filters still allowed run, so the limits sit below what either database refuses. A
 * regular expression that backtracks catastrophically in JavaScript is answered promptly, and a
 * real server answers /health while it is in flight.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FILTER_CLAUSES, MAX_FILTER_DEPTH, MAX_LIKE_PATTERN_LENGTH, MAX_LIST_VALUES } from '../src/query/limits.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { startServerProcess, stopAllServerProcesses } from './support/server-process.js';
import { useTestApp } from './support/test-app.js';

const orOf = (n: number) => Array.from({ length: n }, (_, i) => `tags.fruit = 'f${i}'`).join(' OR ');
const nested = (n: number) => `${'('.repeat(n)}tags.fruit = 'apple'${')'.repeat(n)}`;
/** `'a'` repeated and a final `'b'`: `^(a|a)*$` backtracks through every split of the a's before failing. */
const ALMOST_A = `${'a'.repeat(5_000)}b`;
const CATASTROPHIC = "span.name RLIKE '^(a|a)*$'";

/** A trace whose one span has the given name, written through the store. */
async function logTraceWithSpan(store: KyselyTraceStore, experimentId: string, spanName: string): Promise<string> {
  const traceId = newTraceId();
  const result = await store.startTrace({
    traceId,
    experimentId,
    clientRequestId: null,
    requestTimeMs: Date.UTC(2026, 10, 23),
    executionDurationMs: 5,
    state: 'OK',
    requestPreview: null,
    responsePreview: null,
    metadata: {},
    tags: {},
  });
  expect(result.kind).toBe('created');
  const startNs = 1_795_000_000_000_000_000n;
  await store.logSpans(traceId, [
    { spanId: traceId.slice(3, 19), parentSpanId: null, name: spanName, type: 'CHAIN', status: 'OK', statusMessage: '', startNs, endNs: startNs + 5_000_000n, attributes: {}, events: [] },
  ]);
  return traceId;
}

const inList = (n: number) => `tags.fruit IN (${Array.from({ length: n }, (_, i) => `'f${i}'`).join(', ')})`;

describeEachDatabase('hostile filters are refused with a 400', (database) => {
  const t = useTestApp(database);
  let experimentId: string;
  let appleId: string;

  beforeAll(async () => {
    experimentId = (await t.post('/api/2.0/mlflow/experiments/create', { name: 'bounded' })).json().experiment_id;
    appleId = newTraceId();
    const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: appleId, experimentId, user: 'u-1', session: 's-1', tags: { fruit: 'apple' } }));
    expect(res.statusCode).toBe(200);
  });

  const endpoints = {
    traces: (filter: string) => t.post('/api/3.0/mlflow/traces/search', { experiment_ids: [experimentId], filter }),
    sessions: (filter: string) => t.post('/api/threadline/sessions/search', { experiment_id: experimentId, filter }),
    users: (filter: string) => t.post('/api/threadline/users/search', { experiment_id: experimentId, filter }),
  };

  describe.each(Object.keys(endpoints) as (keyof typeof endpoints)[])('%s search', (endpoint) => {
    it.each([
      ['a 20,000-term OR', () => orOf(20_000)],
      ['100,000 nested parentheses', () => nested(100_000)],
      ['10,000 nested parentheses (within the length limit)', () => nested(10_000)],
      ['10,000 nested NOTs', () => `${'NOT '.repeat(10_000)}tags.fruit = 'apple'`],
      ['a 50,000-value IN list', () => inList(50_000)],
      [`${MAX_FILTER_CLAUSES + 1} clauses`, () => orOf(MAX_FILTER_CLAUSES + 1)],
      [`${MAX_LIST_VALUES + 1} IN values`, () => inList(MAX_LIST_VALUES + 1)],
      ['a LIKE pattern past the length limit', () => `tags.fruit LIKE '%${'a%'.repeat(MAX_LIKE_PATTERN_LENGTH)}'`],
    ])('%s', async (_what, filter) => {
      const res = await endpoints[endpoint](filter());
      expect(res.statusCode).toBe(400);
      expect(res.json().error_code).toBe('INVALID_PARAMETER_VALUE');
      // The message names the bound crossed: the request was refused before any SQL ran.
      expect(res.json().message).toMatch(/at most|longer than/);
    });

    it('runs the largest filters still allowed', async () => {
      const allowed = [
        `${orOf(MAX_FILTER_CLAUSES - 1)} OR tags.fruit = 'apple'`,
        nested(MAX_FILTER_DEPTH),
        `${inList(MAX_LIST_VALUES - 1).slice(0, -1)}, 'apple')`,
        `tags.fruit LIKE '${'%'.repeat(MAX_LIKE_PATTERN_LENGTH - 5)}apple'`,
      ];
      for (const filter of allowed) {
        const res = await endpoints[endpoint](filter);
        expect(res.statusCode, filter.slice(0, 60)).toBe(200);
        const body = res.json();
        const found = endpoint === 'traces' ? body.traces.map((x: { trace_id: string }) => x.trace_id) : endpoint === 'sessions' ? body.sessions.map((s: { session_id: string }) => s.session_id) : body.users.map((u: { user_id: string }) => u.user_id);
        expect(found, filter.slice(0, 60)).toEqual([endpoint === 'traces' ? appleId : endpoint === 'sessions' ? 's-1' : 'u-1']);
      }
    });
  });

  it(`answers ${CATASTROPHIC} promptly against a long name that matches all but its last character`, async () => {
    const almost = await logTraceWithSpan(t.store, experimentId, ALMOST_A);
    const all = await logTraceWithSpan(t.store, experimentId, 'aaaa');
    const res = await endpoints.traces(CATASTROPHIC);
    expect(res.statusCode).toBe(200);
    const found = res.json().traces.map((x: { trace_id: string }) => x.trace_id);
    expect(found).toContain(all);
    expect(found).not.toContain(almost);
  });

  it('refuses order_by lists and experiment lists past their limits', async () => {
    const orderBy = await t.post('/api/3.0/mlflow/traces/search', { experiment_ids: [experimentId], order_by: Array.from({ length: 11 }, (_, i) => `tag.k${i}`) });
    expect(orderBy.statusCode).toBe(400);
    expect(orderBy.json().message).toContain('order_by');
    const sessions = await t.post('/api/threadline/sessions/search', { experiment_id: experimentId, order_by: Array.from({ length: 11 }, () => 'turns DESC') });
    expect(sessions.statusCode).toBe(400);
    const experiments = await t.post('/api/3.0/mlflow/traces/search', { experiment_ids: Array.from({ length: 40_000 }, (_, i) => String(i)) });
    expect(experiments.statusCode).toBe(400);
    expect(experiments.json().message).toContain('at most 1000');
  });
});

describe('a real SQLite server under a hostile search', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'threadline-bounded-'));
  });
  afterEach(stopAllServerProcesses);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`answers /health while ${CATASTROPHIC} runs, then answers the search`, async () => {
    const path = join(dir, 'regex.db');
    const store = await openSqliteStore({ path });
    const experimentId = await store.createExperiment({ name: 'regex' });
    await logTraceWithSpan(store, experimentId, ALMOST_A);
    await store.close();

    // A child process: a server whose event loop is stuck cannot stop this test from failing.
    const server = await startServerProcess({ backendStoreUri: `sqlite:///${path}` });
    const search = fetch(`${server.url}/api/3.0/mlflow/traces/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ experiment_ids: [experimentId], filter: CATASTROPHIC }),
      signal: AbortSignal.timeout(20_000),
    });
    const health = await fetch(`${server.url}/health`, { signal: AbortSignal.timeout(5_000) });
    expect(health.status).toBe(200);
    const res = await search;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { traces?: unknown[] }).traces ?? []).toEqual([]);
  });
});
