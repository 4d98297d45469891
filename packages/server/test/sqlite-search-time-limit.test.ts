/**
 * Every SQLite search has a time limit, and runs off the event loop (DESIGN.md §8, "bounded work
 * everywhere"): a search that would scan for seconds is stopped with a 400 that names the limit,
 * while /health and ingest are answered; one stuck inside a single huge value is stopped by
 * stopping its thread. (PostgreSQL bounds statements with its own statement_timeout.)
 */
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../src/errors.js';
import { createApp } from '../src/http/app.js';
import { MAX_LIKE_PATTERN_LENGTH } from '../src/query/limits.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { SearchThreads } from '../src/store/sqlite/search-threads.js';
import { TIME_LIMIT_FUNCTION } from '../src/store/sqlite/sqlite-dialect.js';
import { openSqliteStore, type SqliteStoreOptions } from '../src/store/sqlite/sqlite-store.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { loadSearchFixture } from './support/search-fixture.js';
import { JSON_HEADERS } from './support/test-app.js';

/** Spans of 100,000 `a`s, and a LIKE that compares ~200 characters at each of their positions. */
const BLOB = 'a'.repeat(100_000);
const SLOW_LIKE = `span.content LIKE '%${'a'.repeat(MAX_LIKE_PATTERN_LENGTH - 3)}b%'`;
const SPANS = 200;
/**
 * Over random a's and b's RE2's DFA would need 2^200 states, so it simulates the automaton: ~4 s a
 * MiB here, all inside the one call for one value, which no check between rows can interrupt.
 */
const STUCK_RLIKE = "span.attributes.blob RLIKE 'a[ab]{200}[cd]'";

/** `length` pseudo-random a's and b's. */
function randomAb(length: number): string {
  const chars: string[] = [];
  let x = 7;
  for (let i = 0; i < length; i++) {
    x = (x * 1_103_515_245 + 12_345) & 0x7fffffff;
    chars.push((x >> 16) & 1 ? 'a' : 'b');
  }
  return chars.join('');
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'threadline-time-limit-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A store on a new file, with one experiment of `traces` traces whose one span holds `blob`. */
async function seededStore(name: string, options: Omit<SqliteStoreOptions, 'path'>, traces: number, blob: string): Promise<{ store: KyselyTraceStore; experimentId: string; path: string }> {
  const path = join(dir, `${name}.db`);
  const store = await openSqliteStore({ path, ...options });
  const experimentId = await store.createExperiment({ name });
  await Promise.all(Array.from({ length: traces }, (_, i) => addSpan(store, experimentId, i, blob)));
  return { store, experimentId, path };
}

/** The `i`th trace of a user (of 3) and session (of 7), with one span whose attribute `blob` is `blob`. */
async function addSpan(store: KyselyTraceStore, experimentId: string, i: number, blob: string): Promise<void> {
  const traceId = newTraceId();
  await store.startTrace({
    traceId,
    experimentId,
    clientRequestId: null,
    requestTimeMs: Date.UTC(2026, 10, 23) + i,
    executionDurationMs: 5,
    state: 'OK',
    requestPreview: null,
    responsePreview: null,
    metadata: { 'mlflow.trace.user': `u-${i % 3}`, 'mlflow.trace.session': `s-${i % 7}` },
    tags: {},
  });
  const startNs = 1_795_000_000_000_000_000n + BigInt(i);
  await store.logSpans(traceId, [
    { spanId: traceId.slice(3, 19), parentSpanId: null, name: 'llm', type: 'LLM', status: 'OK', statusMessage: '', startNs, endNs: startNs + 1n, attributes: { blob }, events: [] },
  ]);
}

/** The 400 a search is stopped with; fails the test when it returns. */
async function stopped(search: Promise<unknown>): Promise<ApiError> {
  const outcome = await search.then(
    () => new Error('the search returned'),
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(ApiError);
  return outcome as ApiError;
}

describe('a SQLite search past its time limit', () => {
  it.each([
    ['on search threads', 2],
    ['on the event loop (searchThreads: 0)', 0],
  ])('is stopped with a 400 naming the limit, %s, for traces, sessions and users', async (_where, searchThreads) => {
    const { store, experimentId } = await seededStore(`scan-${searchThreads}`, { searchTimeLimitMillis: 300, searchThreads }, SPANS, BLOB);
    try {
      for (const search of [
        () => store.searchTraces({ experimentIds: [experimentId], filter: SLOW_LIKE, maxResults: 10 }),
        () => store.searchSessions({ experimentId, filter: SLOW_LIKE, maxResults: 10 }),
        () => store.searchUsers({ experimentId, filter: SLOW_LIKE, maxResults: 10 }),
      ]) {
        const error = await stopped(search());
        expect(error.status).toBe(400);
        expect(error.errorCode).toBe('INVALID_PARAMETER_VALUE');
        expect(error.message).toContain('limit of 300 ms');
      }
      // Searches within the limit still answer, on the same threads.
      const quick = await store.searchTraces({ experimentIds: [experimentId], filter: "metadata.`mlflow.trace.user` = 'u-1'", maxResults: 5 });
      expect(quick.traces).toHaveLength(5);
    } finally {
      await store.close();
    }
  });

  it('stuck inside one huge value, is stopped by stopping its thread; the next search runs', async () => {
    const { store, experimentId } = await seededStore('stuck', { searchTimeLimitMillis: 300, searchThreads: 1 }, 1, randomAb(2 << 20));
    try {
      const error = await stopped(store.searchTraces({ experimentIds: [experimentId], filter: STUCK_RLIKE, maxResults: 10 }));
      expect(error.message).toContain('limit of 300 ms');
      const after = await store.searchTraces({ experimentIds: [experimentId], filter: "span.name = 'llm'", maxResults: 10 });
      expect(after.traces).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});

/**
 * Traces with no spans or tags, written straight into the table: many rows, each cheap to test, so
 * that a search runs long without any value being large.
 */
async function addBareTraces(store: KyselyTraceStore, experimentId: string, count: number): Promise<void> {
  await sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${count})
    INSERT INTO traces (trace_id, experiment_id, request_time, state) SELECT printf('tr-%032d', i), ${Number(experimentId)}, i, 'OK' FROM n`.execute(store.db);
}

describe('a real server on SQLite while a slow search runs', () => {
  let app: FastifyInstance;
  let url: string;
  let store: KyselyTraceStore;
  let experimentId: string;
  let bareExperimentId: string;
  let hugeExperimentId: string;

  beforeAll(async () => {
    ({ store, experimentId } = await seededStore('server', { searchTimeLimitMillis: 1_500 }, SPANS, BLOB));
    bareExperimentId = await store.createExperiment({ name: 'bare' });
    await addBareTraces(store, bareExperimentId, 400_000);
    hugeExperimentId = await store.createExperiment({ name: 'huge' });
    // Big enough that one row outlasts the limit on an idle machine too (16 MiB took ~1.4 s).
    await addSpan(store, hugeExperimentId, 0, 'a'.repeat(48 << 20));
    app = await createApp({ store });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
  });

  it.each([
    // Pattern matching over large values goes straight to a search thread.
    ['a LIKE over large span contents', () => experimentId, SLOW_LIKE],
    // One row that takes seconds inside SQLite's LIKE (48M positions x 190 characters): answered at
    // the limit, its thread stopped once it is back from that row.
    ['a LIKE inside one 48 MiB span', () => hugeExperimentId, `span.content LIKE '%${'a'.repeat(190)}b%'`],
    // Cheap rows, but very many: it starts on the event loop and moves to a thread past its budget.
    ['a scan of 400,000 traces', () => bareExperimentId, Array.from({ length: 30 }, (_, i) => `tags.k${i} = 'x'`).join(' OR ')],
  ])('%s: answers /health and takes a trace meanwhile, then stops the search with a 400', async (_what, experiment, filter) => {
    let searchDone = false;
    const search = fetch(`${url}/api/3.0/mlflow/traces/search`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({ experiment_ids: [experiment()], filter }),
    }).finally(() => (searchDone = true));
    // Let the search start; a search on the event loop would hold this timer until it ended.
    await sleep(150);
    expect(searchDone).toBe(false);

    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    const logged = await fetch(`${url}/api/3.0/mlflow/traces`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify(startTraceBody({ traceId: newTraceId(), experimentId })),
    });
    expect(logged.status).toBe(200);
    expect(searchDone).toBe(false);

    const res = await search;
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error_code: string; message: string };
    expect(body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(body.message).toContain('limit of 1500 ms');
  });
});

describe('search threads', () => {
  it('find what the store finds on its own connection: same functions, same case-sensitive LIKE', async () => {
    const path = join(dir, 'fixture.db');
    const writer = await openSqliteStore({ path, searchThreads: 0 });
    await loadSearchFixture(writer.db);
    const threaded = await openSqliteStore({ path, searchThreads: 1 });
    try {
      for (const filter of [
        "trace.name LIKE 'generate%'",
        "trace.name LIKE 'Generate%'",
        "trace.name ILIKE '%_LOG%'",
        "trace.name RLIKE '^(predict|inference)_\\d+$'",
        "span.name RLIKE '^llm\\.' AND span.type = 'LLM'",
        "trace.text ILIKE '%authentication error%'",
        "tag.env IS NULL OR metadata.`mlflow.trace.user` = 'alice'",
        'prompt = "qa-agent-system-prompt/4"',
      ]) {
        const request = { experimentIds: ['1', '2', '3'], filter, maxResults: 50 };
        const ids = async (store: KyselyTraceStore) => (await store.searchTraces(request)).traces.map((t) => t.traceId);
        const onThread = await ids(threaded);
        expect(onThread, filter).toEqual(await ids(writer));
      }
      expect((await threaded.searchTraces({ experimentIds: ['3'], filter: "trace.name LIKE 'Generate%'", maxResults: 5 })).traces).toHaveLength(1);
      expect((await threaded.searchTraces({ experimentIds: ['3'], filter: "trace.name LIKE 'generate%'", maxResults: 5 })).traces).toHaveLength(0);
    } finally {
      await threaded.close();
      await writer.close();
    }
  });

  it('answer a 503 when every thread is busy and too many searches wait', async () => {
    const { store, path } = await seededStore('busy', { searchThreads: 0 }, 1, 'x');
    await store.close();
    const threads = new SearchThreads({ path, timeLimitFunction: TIME_LIMIT_FUNCTION, threads: 1, timeLimitMillis: 5_000, maxWaiting: 1 });
    try {
      const slow = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE ${TIME_LIMIT_FUNCTION}() AND i < 3000000) SELECT count(*) AS c FROM n`;
      const running = threads.run(slow, []);
      const waiting = threads.run('SELECT 1 AS one', []);
      const refused = await threads.run('SELECT 1 AS one', []).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(ApiError);
      expect((refused as ApiError).status).toBe(503);
      expect(await running).toEqual([{ c: 3000000 }]);
      expect(await waiting).toEqual([{ one: 1 }]);
    } finally {
      await threads.close();
    }
  });
});
