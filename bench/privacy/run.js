#!/usr/bin/env node
/**
 * bench/privacy: erasing a user with 10,000 traces from the 1M-trace database while ingest goes
 * on, and the longest ingest stall the erase causes (the Privacy goal: no ingest request waits
 * more than 50 ms for it).
 *
 * A copy of bench/search's cached database (never the cached file itself) gains the user through
 * the server's own store code (subject.js); then a real `threadline server` runs on the copy under
 * a steady MLflow REST ingest load (bench/ingest's workload and HTTP client, a fixed modest rate,
 * a few traces in flight), first for a baseline, then while `POST /api/threadline/users/{id}/erase`
 * runs (polled until its receipt is complete), then a little after. Every ingest call's start and
 * end is recorded; baseline and erase-time latencies are compared side by side. Afterwards the
 * user must be gone and the rollups of the sessions they shared must be exact.
 *
 * Then the same on PostgreSQL, in a schema of its own filled from bench/search's PostgreSQL copy
 * of the dataset, when there is one.
 *
 * Usage: npm run bench:privacy [-- --traces 20000 --user-traces 2000 --postgres URL|none --no-write]
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, fsyncSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { openPostgresStore, openSqliteStore } from '../../packages/server/dist/index.js';
import { steadyLoad } from '../ingest/http-load.js';
import { makeTraceSet } from '../ingest/workload.js';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { log, positiveOption } from '../lib/cli.js';
import { summariseCpuProfile } from '../lib/cpuprofile.js';
import { startServerProcess } from '../lib/server-process.js';
import { fileURLToPath } from 'node:url';
import { fmt, markdownTable, percentile } from '../lib/stats.js';
import { cachedDatabase, ensureDatabase, EXPERIMENT_ID } from '../search/dataset.js';
import { postgresCopyOf, postgresReachable } from './postgres.js';
import { SUBJECT, writeSubject } from './subject.js';

/** Preloaded into the server: records its event-loop blocks. */
const LOOP_MONITOR = fileURLToPath(new URL('../lib/loop-monitor.js', import.meta.url));
/** The goal: no ingest request waits longer than this for the erase. */
const GOAL_MS = 50;

const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: '1000000' },
    users: { type: 'string' },
    sessions: { type: 'string' },
    'user-traces': { type: 'string', default: '10000' },
    'user-sessions': { type: 'string', default: '100' },
    rate: { type: 'string', default: '40' },
    concurrency: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '3' },
    baseline: { type: 'string', default: '20' },
    after: { type: 'string', default: '5' },
    'cache-dir': { type: 'string', default: process.env.THREADLINE_BENCH_CACHE ?? join(tmpdir(), 'threadline-bench-cache') },
    postgres: { type: 'string', default: process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test' },
    profile: { type: 'boolean', default: false },
    dump: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  log(`npm run bench:privacy [-- options]
  --traces N          the search dataset's size (default 1,000,000; users N/100, sessions N/10 unless
                      given); a cached build is copied (any build of that size, migrated on the copy),
                      else one is built into --cache-dir as bench:search builds it
  --users U  --sessions S
  --user-traces T     traces of the erased user (default 10,000), in --user-sessions (default 100)
  --rate R            ingest traces/s during the run (default 40: 80 requests/s), --concurrency C in flight (default 4)
  --warmup W          seconds of load not counted (default 3), then --baseline B seconds (default 20)
                      before the erase and --after A seconds (default 5) after it completes
  --cache-dir DIR     where bench:search keeps its databases (default $THREADLINE_BENCH_CACHE or <tmp>/threadline-bench-cache)
  --postgres URL      also run on this PostgreSQL, in a schema of its own copied from bench:search's
                      copy of the dataset (default $TEST_POSTGRES_URL or the local test server; none: skip)
  --profile           run the server under node --cpu-prof and print where its time went (BENCHMARKS.md is not written)
  --dump PREFIX       write every ingest call and server loop block to PREFIX-<database>.json
  --no-write          do not rewrite the bench:privacy block of BENCHMARKS.md
  --keep              keep the copies (SQLite file, PostgreSQL schema)`);
  process.exit(0);
}

const positive = (name) => positiveOption(args, name);
const traces = positive('traces');
const sizes = { traces, users: Number(args.users ?? Math.max(1, Math.round(traces / 100))), sessions: Number(args.sessions ?? Math.max(1, Math.round(traces / 10))) };
const userTraces = positive('user-traces');
const userSessions = positive('user-sessions');
const RATE = positive('rate');
const CONCURRENCY = positive('concurrency');
const WARMUP_S = Number(args.warmup);
const BASELINE_S = positive('baseline');
const AFTER_S = Number(args.after);
const writeResults = !args['no-write'] && !args.profile;
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${osType()} ${release()}, Node ${process.version}`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

log(`machine: ${machine}`);
log(`dataset: ${fmt(sizes.traces)} traces, ${fmt(sizes.users)} users, ${fmt(sizes.sessions)} sessions; erased user: ${fmt(userTraces)} traces in ${userSessions} sessions`);

const dir = mkdtempSync(join(tmpdir(), 'threadline-bench-privacy-'));
const results = [];
let sqliteSource;
try {
  // --- SQLite: a copy of the cached dataset ---
  const cached = cachedDatabase({ ...sizes, cacheDir: args['cache-dir'] });
  sqliteSource = cached?.path ?? (await ensureDatabase({ ...sizes, cacheDir: args['cache-dir'], log })).path;
  if (cached && !cached.current) log(`database: ${cached.path} is an older build (older migrations or generator); the copy is migrated by the server`);
  const copy = join(dir, 'privacy.db');
  const copied = timed(() => {
    for (const suffix of ['', '-wal']) {
      if (existsSync(sqliteSource + suffix) && statSync(sqliteSource + suffix).size > 0) execFileSync('cp', ['--reflink=auto', sqliteSource + suffix, copy + suffix]);
    }
  });
  log(`sqlite: copied ${sqliteSource} (${fmt(statSync(copy).size / 2 ** 30, 2)} GiB) in ${fmt(copied.seconds, 0)} s`);
  const store = await openSqliteStore({ path: copy, searchThreads: 0 });
  const sqliteResult = await runOne({
    label: 'SQLite',
    store,
    serverUri: `sqlite:///${copy}`,
    recount: (sessionIds) => recountSqlite(copy, sessionIds),
    synced: () => fsyncFile(copy),
  });
  results.push(sqliteResult);

  // --- PostgreSQL: a schema of our own, filled from bench/search's copy of the dataset ---
  if (args.postgres === 'none') results.push({ label: 'PostgreSQL', skipped: '--postgres none' });
  else if (!(await postgresReachable(args.postgres))) results.push({ label: 'PostgreSQL', skipped: `nothing answers at ${args.postgres}` });
  else {
    const pg = await postgresCopyOf({ url: args.postgres, traces, sqlitePath: sqliteSource, log });
    try {
      const pgStore = await openPostgresStore({ connectionString: args.postgres, schema: pg.schema });
      results.push(await runOne({ label: 'PostgreSQL', store: pgStore, serverUri: pg.storeUri, recount: (sessionIds) => pg.recount((query) => recountChecks(query, sessionIds)), note: pg.note }));
    } finally {
      if (args.keep) log(`kept schema ${pg.schema}`);
      else await pg.drop();
    }
  }
} finally {
  if (args.keep) log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}

report(results);

/**
 * One database: the subject written through the store, then the server under load, the erase,
 * the checks. Answers what the report needs.
 */
async function runOne({ label, store, serverUri, recount, note, synced }) {
  log(`\n${label}:`);
  let subject;
  let written;
  try {
    const db = store.db;
    const datasetSessions = (
      await db.selectFrom('sessions').select('session_id').where('experiment_id', '=', EXPERIMENT_ID).where('user_count', '>=', 2).orderBy('session_id').limit(5).execute()
    ).map((r) => r.session_id);
    const datasetUser = (await db.selectFrom('users').select('user_id').where('experiment_id', '=', EXPERIMENT_ID).orderBy('user_id').limit(1).executeTakeFirstOrThrow()).user_id;
    const started = performance.now();
    subject = await writeSubject(store, { experimentId: String(EXPERIMENT_ID), traces: userTraces, sessions: userSessions, datasetSessions, datasetUser });
    written = (performance.now() - started) / 1000;
  } finally {
    await store.close();
  }
  if (synced) {
    // The copy's pages may still be on their way to disk: the server's first syncs would wait for them.
    const took = timed(synced);
    log(`${label}: synced the copy to disk in ${fmt(took.seconds, 1)} s`);
  }
  log(
    `${label}: wrote ${SUBJECT}: ${fmt(subject.traces)} traces (${fmt(subject.spans)} spans, ${fmt(subject.llmSpans)} LLM calls) in ${subject.sessions} sessions, ` +
      `${fmt(subject.assessmentsOnTurns)} assessments on them, ${subject.assessmentsGiven} given on others' turns, ${subject.sessionAssessments} on whole sessions, in ${fmt(written, 1)} s`,
  );

  const profileDir = join(dir, `profile-${label}`);
  const loopLog = join(dir, `loop-${label}.json`);
  const server = await startServerProcess({
    backendStoreUri: serverUri,
    nodeArgs: ['--import', LOOP_MONITOR, ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])],
    env: { ...process.env, THREADLINE_BENCH_LOOP_LOG: loopLog },
  });
  log(`${label}: server pid ${server.pid} at ${server.url}`);
  try {
    let set = 0;
    let queue = [];
    const nextTrace = () => {
      if (queue.length === 0) queue = makeTraceSet(500, 20260115 + set, set++, String(EXPERIMENT_ID));
      return queue.shift();
    };
    const load = steadyLoad(server.url, { ratePerSecond: RATE, concurrency: CONCURRENCY, nextTrace });
    const loadStart = performance.now();
    let erase;
    try {
      await sleep((WARMUP_S + BASELINE_S) * 1000);
      erase = await eraseSubject(server.url);
      log(`${label}: erase ${erase.receipt.erasure_id} complete: ${erase.receipt.counts.traces} traces in ${fmt(erase.serverMs)} ms (HTTP ${erase.firstStatus}, ${erase.polls} polls)`);
      await sleep(AFTER_S * 1000);
    } finally {
      await load.stop();
    }
    const checks = await verify(server.url, subject, erase.receipt);
    const bounds = { from: loadStart + WARMUP_S * 1000, eraseStart: erase.start, eraseEnd: erase.end, to: performance.now() };
    const windows = windowsOf(load.calls, bounds);
    await server.stop();
    windows.loop = loopBlocksOf(JSON.parse(readFileSync(loopLog, 'utf8')), bounds);
    if (args.dump) writeFileSync(`${args.dump}-${label}.json`, JSON.stringify({ ...bounds, timeOrigin: performance.timeOrigin, calls: load.calls, loop: JSON.parse(readFileSync(loopLog, 'utf8')) }));
    const recounted = await recount(subject.sharedSessions.map((s) => s.sessionId));
    checks.push(...recounted);
    for (const c of checks) log(`${label}: ${c.ok ? 'checked' : 'FAILED'}: ${c.what}`);
    const profile = args.profile ? profileSummary(profileDir) : undefined;
    return { label, note, subject, erase, windows, checks, profile };
  } finally {
    await server.stop();
  }
}

/** POSTs the erase and polls its receipt until complete; times on this process's clock. */
async function eraseSubject(url) {
  const start = performance.now();
  const res = await fetch(`${url}/api/threadline/users/${encodeURIComponent(SUBJECT)}/erase`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ experiment_id: String(EXPERIMENT_ID) }),
  });
  const firstStatus = res.status;
  if (res.status !== 200 && res.status !== 202) throw new Error(`erase: HTTP ${res.status} ${await res.text()}`);
  let receipt = (await res.json()).erasure;
  let polls = 0;
  while (receipt.state !== 'complete') {
    await sleep(100);
    polls++;
    const got = await fetch(`${url}/api/threadline/erasures/${receipt.erasure_id}`);
    if (got.status !== 200) throw new Error(`erase receipt: HTTP ${got.status} ${await got.text()}`);
    receipt = (await got.json()).erasure;
  }
  const seen = performance.now();
  // The server's own clock says when it finished; polling only bounds it.
  const completed = receipt.completed_time_ms - performance.timeOrigin;
  const end = Math.max(start, Math.min(seen, completed));
  return { start, end, serverMs: receipt.completed_time_ms - receipt.requested_time_ms, clientMs: seen - start, firstStatus, polls, receipt };
}

/** The ingest calls in the baseline, during the erase and after it. */
function windowsOf(calls, { from, eraseStart, eraseEnd }) {
  const pick = (f) => calls.filter(f);
  const baseline = pick((c) => c.start >= from && c.end < eraseStart);
  const during = pick((c) => c.start < eraseEnd && c.end > eraseStart);
  const after = pick((c) => c.start > eraseEnd);
  const stats = (list) => {
    const ms = list.map((c) => c.end - c.start);
    return { n: list.length, p50: percentile(ms, 50), p99: percentile(ms, 99), max: ms.length > 0 ? Math.max(...ms) : NaN, late: list.length > 0 ? Math.max(...list.map((c) => c.lateMs)) : NaN };
  };
  const worst = during.reduce((w, c) => (!w || c.end - c.start > w.end - w.start ? c : w), undefined);
  return {
    baseline: stats(baseline),
    during: stats(during),
    after: stats(after),
    seconds: { baseline: (eraseStart - from) / 1000, erase: (eraseEnd - eraseStart) / 1000 },
    worst: worst && { kind: worst.kind, ms: worst.end - worst.start, atMs: worst.start - eraseStart },
  };
}

/**
 * The server's event-loop blocks (bench/lib/loop-monitor.js) in each window, on this process's
 * clock: the longest, and the longest less the time its thread waited for a core (what is left:
 * its own work and I/O).
 */
function loopBlocksOf(blocks, { from, eraseStart, eraseEnd, to }) {
  const local = blocks.map(([startMs, gapMs, cpuMs, waitMs]) => ({ start: startMs - performance.timeOrigin, gapMs, ownMs: Math.max(0, gapMs - (waitMs ?? 0)), cpuMs }));
  const within = (a, b) => {
    const list = local.filter((x) => x.start < b && x.start + x.gapMs > a);
    const own = list.reduce((w, x) => (!w || x.ownMs > w.ownMs ? x : w), undefined);
    return { n: list.length, maxGap: Math.max(0, ...list.map((x) => x.gapMs)), maxOwn: own?.ownMs ?? 0, ownCpu: own?.cpuMs ?? NaN };
  };
  return { baseline: within(from, eraseStart), during: within(eraseStart, eraseEnd), after: within(eraseEnd, to) };
}

/** After the erase, through the HTTP API: the user is gone; the sessions they shared keep their other users. */
async function verify(url, subject, receipt) {
  const post = async (path, body) => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  };
  const experiment_id = String(EXPERIMENT_ID);
  const checks = [];
  const check = (ok, what) => checks.push({ ok, what });
  check(receipt.counts.traces === subject.traces, `the receipt counts ${fmt(receipt.counts.traces)} traces erased, ${fmt(subject.traces)} written`);
  check(receipt.counts.spans === subject.spans, `the receipt counts ${fmt(receipt.counts.spans)} spans, ${fmt(subject.spans)} written`);
  const given = (receipt.counts.assessments_given ?? 0) + (receipt.counts.assessments ?? 0) + (receipt.counts.session_assessments ?? 0);
  const expected = subject.assessmentsOnTurns + subject.assessmentsGiven + subject.sessionAssessments;
  check(given === expected, `the receipt counts ${fmt(given)} assessments (on the user's turns, given by the user, on emptied sessions), ${fmt(expected)} written`);
  const users = await post('/api/threadline/users/search', { experiment_id, filter: `user_id = '${SUBJECT}'` });
  check((users.users ?? []).length === 0, `users search finds no ${SUBJECT}`);
  const found = await post('/api/3.0/mlflow/traces/search', {
    locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id } }],
    filter: `metadata.\`mlflow.trace.user\` = '${SUBJECT}'`,
    max_results: 10,
  });
  check((found.traces ?? []).length === 0, `traces search finds no trace of ${SUBJECT}`);
  const listed = [];
  for (const s of subject.sharedSessions) {
    const page = await post('/api/threadline/sessions/search', { experiment_id, filter: `session_id = '${s.sessionId}'` });
    const row = (page.sessions ?? [])[0];
    listed.push(row && JSON.stringify([...row.user_ids].sort()) === JSON.stringify(s.otherUsers));
  }
  check(
    listed.every(Boolean),
    `the ${subject.sharedSessions.length} sessions shared with other users are still listed, with exactly their other users (${subject.sharedSessions.map((s) => `${s.sessionId}: ${s.otherUsers.join(', ')}`).join('; ')})`,
  );
  const own = await post('/api/threadline/sessions/search', { experiment_id, filter: `session_id LIKE 'privacy-s-%'` });
  check((own.sessions ?? []).length === 1, `of the user's own ${subject.ownSessions} sessions only the one with another user's turn is left (${(own.sessions ?? []).length} found)`);
  return checks;
}

/**
 * The rollups the copy's rows imply, recounted from the trace rows the slow and obvious way, for
 * the sessions and users the erase touched: whatever the batches did, they must match.
 */
async function recountSqlite(path, sessionIds) {
  const db = new Database(path, { readonly: true });
  try {
    return await recountChecks(async (text, ...params) => db.prepare(text).all(...params), sessionIds);
  } finally {
    db.close();
  }
}

/**
 * The recount as queries, for either database (`?` placeholders; PostgreSQL's runner renumbers
 * them): the subject's rows are gone, and the sessions they shared (`sessionIds`) and those
 * sessions' other users have the rollups their remaining traces imply; the experiment's hour and
 * model rollups add up.
 */
async function recountChecks(query, sessionIds) {
  const ids = sessionIds.map(() => '?').join(', ');
  const checks = [];
  const check = (ok, what) => checks.push({ ok, what });
  const e = EXPERIMENT_ID;
  const left = (await query(`SELECT COUNT(*) AS n FROM traces WHERE user_id = ?`, SUBJECT))[0];
  check(Number(left.n) === 0, `no trace row of ${SUBJECT} is left (${left.n})`);
  const links = (await query(`SELECT COUNT(*) AS n FROM session_users WHERE user_id = ?`, SUBJECT))[0];
  check(Number(links.n) === 0, `no session_users row of ${SUBJECT} is left`);
  const given = (await query(`SELECT COUNT(*) AS n FROM assessments WHERE content LIKE ?`, `%${SUBJECT}%`))[0];
  check(Number(given.n) === 0, `no assessment mentions ${SUBJECT}`);
  const sessionRows = await query(
    `SELECT s.session_id, s.trace_count, s.error_count, s.total_tokens, s.cost_nanos, s.first_time, s.last_time, s.user_count,
       (SELECT COUNT(*) FROM traces t WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id) AS n,
       (SELECT COUNT(*) FROM traces t WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id AND t.state = 'ERROR') AS errors,
       (SELECT COALESCE(SUM(t.total_tokens), 0) FROM traces t WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id) AS tokens,
       (SELECT COALESCE(SUM(t.cost_nanos), 0) FROM traces t WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id) AS cost,
       (SELECT MIN(t.request_time) FROM traces t WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id) AS first,
       (SELECT MAX(t.request_time) FROM traces t WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id) AS last,
       (SELECT COUNT(DISTINCT t.user_id) FROM traces t WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id) AS users
     FROM sessions s WHERE s.experiment_id = ? AND s.session_id IN (${ids})`,
    e,
    ...sessionIds,
  );
  const badSessions = sessionRows.filter(
    (r) =>
      Number(r.trace_count) !== Number(r.n) ||
      Number(r.error_count) !== Number(r.errors) ||
      Number(r.total_tokens) !== Number(r.tokens) ||
      Number(r.cost_nanos) !== Number(r.cost) ||
      Number(r.first_time) !== Number(r.first) ||
      Number(r.last_time) !== Number(r.last) ||
      Number(r.user_count) !== Number(r.users),
  );
  check(sessionRows.length === sessionIds.length && badSessions.length === 0, `the rollups of the ${sessionRows.length} sessions the user shared equal a recount of their traces${badSessions.length > 0 ? `; wrong: ${badSessions.map((r) => r.session_id).join(', ')}` : ''}`);
  const userRows = await query(
    `SELECT u.user_id, u.trace_count, u.total_tokens, u.cost_nanos, u.session_count,
       (SELECT COUNT(*) FROM traces t WHERE t.experiment_id = u.experiment_id AND t.user_id = u.user_id) AS n,
       (SELECT COALESCE(SUM(t.total_tokens), 0) FROM traces t WHERE t.experiment_id = u.experiment_id AND t.user_id = u.user_id) AS tokens,
       (SELECT COALESCE(SUM(t.cost_nanos), 0) FROM traces t WHERE t.experiment_id = u.experiment_id AND t.user_id = u.user_id) AS cost,
       (SELECT COUNT(DISTINCT t.session_id) FROM traces t WHERE t.experiment_id = u.experiment_id AND t.user_id = u.user_id) AS sessions
     FROM users u WHERE u.experiment_id = ? AND u.user_id IN (SELECT su.user_id FROM session_users su WHERE su.experiment_id = ? AND su.session_id IN (${ids}))`,
    e,
    e,
    ...sessionIds,
  );
  const badUsers = userRows.filter((r) => Number(r.trace_count) !== Number(r.n) || Number(r.total_tokens) !== Number(r.tokens) || Number(r.cost_nanos) !== Number(r.cost) || Number(r.session_count) !== Number(r.sessions));
  check(userRows.length > 0 && badUsers.length === 0, `the rollups of the ${userRows.length} other users of those sessions equal a recount of their traces${badUsers.length > 0 ? `; wrong: ${badUsers.map((r) => r.user_id).join(', ')}` : ''}`);
  const hours = (await query(`SELECT COALESCE(SUM(trace_count), 0) AS n, COALESCE(SUM(total_tokens), 0) AS tokens, COALESCE(SUM(cost_nanos), 0) AS cost FROM trace_hours WHERE experiment_id = ?`, e))[0];
  const all = (await query(`SELECT COUNT(*) AS n, COALESCE(SUM(total_tokens), 0) AS tokens, COALESCE(SUM(cost_nanos), 0) AS cost FROM traces WHERE experiment_id = ?`, e))[0];
  check(
    Number(hours.n) === Number(all.n) && Number(hours.tokens) === Number(all.tokens) && Number(hours.cost) === Number(all.cost),
    `trace_hours add up to the experiment's ${fmt(Number(all.n))} traces, their tokens and cost`,
  );
  const models = (await query(`SELECT COALESCE(SUM(calls), 0) AS n FROM model_hours WHERE experiment_id = ?`, e))[0];
  const calls = (await query(`SELECT COUNT(*) AS n FROM llm_calls WHERE experiment_id = ? AND counted = 1`, e))[0];
  check(Number(models.n) === Number(calls.n), `model_hours count the experiment's ${fmt(Number(calls.n))} counted LLM calls`);
  return checks;
}

function fsyncFile(path) {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function timed(work) {
  const started = performance.now();
  const value = work();
  return { value, seconds: (performance.now() - started) / 1000 };
}

function profileSummary(profileDir) {
  const files = existsSync(profileDir) ? readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')) : [];
  return files.length > 0 ? summariseCpuProfile(join(profileDir, files[0])) : undefined;
}

function report(results) {
  const ms = (v) => fmt(v, 1);
  const measured = results.filter((r) => !r.skipped);
  const sections = [];
  for (const r of measured) {
    const w = r.windows;
    const excess = w.during.max - w.baseline.p99;
    const met = excess <= GOAL_MS;
    const failed = r.checks.filter((c) => !c.ok);
    const loop = (l) => (l.n === 0 ? 'none over 10 ms' : ms(l.maxGap));
    const own = (l) => (l.n === 0 ? '–' : `${ms(l.maxOwn)} (${ms(l.ownCpu)} on a core)`);
    const row = (name, c, l) => [name, fmt(c.n), ms(c.p50), ms(c.p99), ms(c.max), ms(c.late), loop(l), own(l)];
    const table = markdownTable(
      ['window', 'ingest calls (POST, PUT)', 'p50 ms', 'p99 ms', 'max ms', 'max schedule delay ms', 'server loop: longest block ms', 'longest less its wait for a core ms'],
      [
        row(`baseline (${fmt(w.seconds.baseline, 0)} s before the erase)`, w.baseline, w.loop.baseline),
        row(`during the erase (${fmt(w.seconds.erase, 1)} s)`, w.during, w.loop.during),
        row(`after (${fmt(AFTER_S, 0)} s)`, w.after, w.loop.after),
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    );
    const counts = Object.entries(r.erase.receipt.counts)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', ');
    sections.push(
      [
        `**${r.label}**${r.note ? ` (${r.note})` : ''}`,
        '',
        `Erase: ${fmt(r.erase.receipt.counts.traces)} traces in **${fmt(r.erase.serverMs / 1000, 2)} s** (the receipt's requested → completed), **${fmt((r.erase.receipt.counts.traces * 1000) / r.erase.serverMs)} traces/s**; the POST answered ${r.erase.firstStatus}${r.erase.firstStatus === 202 ? `, then ${r.erase.polls} polls of the receipt` : ''}. Rows deleted: ${counts}.`,
        '',
        table,
        '',
        `**Longest ingest stall during the erase: ${ms(w.during.max)} ms** (a ${w.worst?.kind ?? '-'} ${fmt((w.worst?.atMs ?? 0) / 1000, 1)} s into it), ${ms(excess)} ms over the baseline p99: ` +
          `goal by the client's clock (≤ ${GOAL_MS} ms over the baseline p99) **${met ? 'met' : 'NOT met'}**. ` +
          `By the server's: its event loop was held at most ${ms(w.loop.during.maxGap)} ms at a time during the erase (baseline ${ms(w.loop.baseline.maxGap)} ms), and at most ${ms(w.loop.during.maxOwn)} ms by its own work and I/O, not counting its waits for a core (baseline ${ms(w.loop.baseline.maxOwn)} ms): ` +
          `goal (no block of over ${GOAL_MS} ms of the server's own) **${w.loop.during.maxOwn <= GOAL_MS ? 'met' : 'NOT met'}**.`,
        '',
        failed.length === 0 ? `Checked after the erase: ${r.checks.map((c) => c.what).join('; ')}.` : `**Checks FAILED**: ${failed.map((c) => c.what).join('; ')}.`,
      ].join('\n'),
    );
    if (r.profile) {
      const pct = (share) => `${fmt(share * 100, 1)}%`;
      log(`\n${r.label}: server CPU profile, ${fmt(r.profile.totalMs)} ms busy, ${fmt(r.profile.idleMs)} ms idle`);
      log(markdownTable(['function', 'where', 'self ms', 'share'], r.profile.self.slice(0, 25).map((p) => [p.name, p.where, fmt(p.ms), pct(p.share)]), ['l', 'l', 'r', 'r']));
      log(markdownTable(['function', 'where', 'inclusive ms', 'share'], r.profile.inclusive.slice(0, 40).map((p) => [p.name, p.where, fmt(p.ms), pct(p.share)]), ['l', 'l', 'r', 'r']));
    }
  }
  for (const r of results.filter((x) => x.skipped)) sections.push(`${r.label}: not measured (${r.skipped}).`);
  const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
  const command = `npm run bench:privacy${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const first = measured[0];
  const body = [
    `Last run: ${date} UTC · machine: ${machine} · command: \`${command}\``,
    '',
    `Workload: bench:search's ${fmt(sizes.traces)}-trace database (copied; ${fmt(sizes.users)} users, ${fmt(sizes.sessions)} sessions, 5 spans per trace, with its feedback), plus the user \`${SUBJECT}\` written through the server's store code: ` +
      (first
        ? `${fmt(first.subject.traces)} traces of 2–5 spans (${fmt(first.subject.spans)} spans, ${fmt(first.subject.llmSpans)} LLM calls with token usage) in ${first.subject.sessions} sessions, 5 of them the dataset's own sessions shared with their users and one of the user's own with a dataset user's turn; ${fmt(first.subject.assessmentsOnTurns)} assessments on the user's turns, ${first.subject.assessmentsGiven} thumbs the user gave on others' turns, ${first.subject.sessionAssessments} on whole sessions.`
        : `${fmt(userTraces)} traces.`),
    `A real \`threadline server\` on the copy takes a steady ingest load throughout: bench:ingest's chat traces (5 spans, ~1 KB attributes each) by the MLflow REST flow (POST trace, PUT spans), ${RATE} traces/s (${RATE * 2} requests/s) on a fixed schedule, at most ${CONCURRENCY} in flight; ${fmt(WARMUP_S, 0)} s of warm-up, a ${fmt(BASELINE_S, 0)} s baseline, then \`POST /api/threadline/users/${SUBJECT}/erase\` (polled until the receipt is complete) and ${fmt(AFTER_S, 0)} s more. Every ingest call's latency is counted in the window it overlaps (a call that spans the erase's start or end counts as during it). Max schedule delay: how long a trace waited for a free in-flight slot (the load's own queueing, not in the latencies). ` +
      `Server loop: bench/lib/loop-monitor.js, preloaded into the server, notes every time its event loop (where every SQLite statement runs) could not run a 2 ms timer for over 10 ms, and how its thread spent the time (Linux schedstat): on a core, waiting for one (this machine is shared and busy: the client's latencies include such waits too), or blocked in a system call (a sync to disk, an uncached read); the last column is the longest block less its wait for a core, with its time on a core. ` +
      `Goal: no ingest request waits more than ${GOAL_MS} ms for the erase, read by the client as the longest call during the erase less the baseline p99, and by the server as its longest block of its own (work and I/O) during the erase.`,
    '',
    ...sections.flatMap((s) => [s, '']),
  ].join('\n');
  log('');
  log(body);
  if (writeResults) log(`\nwrote ${writeBenchmarkSection('privacy', 'Erasing a user under ingest load (bench/privacy)', body)}`);
  const failures = measured.flatMap((r) => r.checks.filter((c) => !c.ok));
  if (failures.length > 0) {
    process.exitCode = 1;
    log(`\n${failures.length} check(s) failed`);
  }
}
