#!/usr/bin/env node
/**
 * bench/ui: how long each first screen of the web UI takes to show its data on bench/search's
 * 1,000,000-trace database (10k users, 100k sessions): a real `threadline server` process on the
 * cached SQLite file, Debian's Chromium through playwright-core, the time from navigation to the
 * view's first rows (or chart) on screen. Goal: under a second for every first screen.
 *
 * Usage: npm run bench:ui [-- --traces 1000000 --iterations 7 --no-write]
 */
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launchBrowser, chromiumAvailable, CHROMIUM_PATH } from '../../packages/ui/scripts/browser.mjs';
import { request } from '../../packages/ui/scripts/seed.mjs';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { startServerProcess } from '../lib/server-process.js';
import { fmt, markdownTable, median, percentile } from '../lib/stats.js';
import { ensureDatabase } from '../search/dataset.js';

const GOAL_MS = 1000;
const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: '1000000' },
    iterations: { type: 'string', default: '7' },
    'cache-dir': { type: 'string', default: process.env.THREADLINE_BENCH_CACHE ?? join(tmpdir(), 'threadline-bench-cache') },
    'no-write': { type: 'boolean', default: false },
  },
});
if (!chromiumAvailable()) {
  console.error(`bench:ui needs Chromium at ${CHROMIUM_PATH} (apt-get install -y chromium).`);
  process.exit(1);
}
const log = (line) => console.log(line);
const traces = Number(args.traces);
const sizes = { traces, users: Math.max(1, Math.round(traces / 100)), sessions: Math.max(1, Math.round(traces / 10)) };
const iterations = Number(args.iterations);
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${osType()} ${release()}, Node ${process.version}`;

// The database bench/search builds (and caches); built here too when missing.
const { path } = await ensureDatabase({ ...sizes, cacheDir: args['cache-dir'], log });
const server = await startServerProcess({ dbPath: path });
const browser = await launchBrowser();
const results = [];
try {
  const base = server.url;
  // bench/search loads its traces into its own experiment.
  const { experiment } = await request(base, 'GET', '/api/2.0/mlflow/experiments/get-by-name?experiment_name=search-bench');
  const exp = experiment.experiment_id;
  const [{ sessions }, { users }] = await Promise.all([
    request(base, 'POST', '/api/threadline/sessions/search', { experiment_id: exp, max_results: 1 }),
    request(base, 'POST', '/api/threadline/users/search', { experiment_id: exp, max_results: 1 }),
  ]);
  // The overview over the month the dataset spans.
  const last = users[0].last_time_ms;
  const month = 30 * 86_400_000;
  const enc = encodeURIComponent;
  const views = [
    ['Traces (newest first)', `/experiments/${exp}/traces`, '[data-testid="traces-table"] [role="row"][data-index]'],
    ['Traces of one user', `/experiments/${exp}/traces?user=${enc(users[0].user_id)}`, '[data-testid="traces-table"] [role="row"][data-index]'],
    ['Sessions', `/experiments/${exp}/sessions`, '[data-testid="sessions-table"] [role="row"][data-index]'],
    ['Session page (its turns)', `/experiments/${exp}/sessions/${enc(sessions[0].session_id)}`, '[data-testid="turn"]'],
    ['Users', `/experiments/${exp}/users`, '[data-testid="users-table"] [role="row"][data-index]'],
    ['User page (sessions)', `/experiments/${exp}/users/${enc(users[0].user_id)}`, '[data-testid="user-sessions"] [role="row"][data-index]'],
    ['Overview, 30 days (all traces)', `/experiments/${exp}/overview?from=${last - month}&to=${last + 1}`, '[data-testid="chart-traces"] canvas'],
    ['Overview, 30 days, by user', `/experiments/${exp}/overview?from=${last - month}&to=${last + 1}&group=user`, '[data-testid="chart-groups"] canvas'],
  ];
  const page = await browser.context.newPage();
  page.setDefaultTimeout(60_000);
  for (const [name, path, ready] of views) {
    const times = [];
    for (let i = 0; i <= iterations; i++) {
      await page.goto('about:blank');
      const started = performance.now();
      await page.goto(base + path);
      await page.waitForSelector(ready);
      const ms = performance.now() - started;
      if (i > 0) times.push(ms); // the first visit warms the server's and the browser's caches
    }
    const row = { name, path, p50: median(times), p95: percentile(times, 95), max: Math.max(...times) };
    results.push(row);
    log(`${name.padEnd(28)} p50 ${fmt(row.p50)} ms  p95 ${fmt(row.p95)} ms`);
  }
} finally {
  await browser.close();
  await server.stop();
}

const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
const table = markdownTable(
  ['first screen', 'p50 ms', 'p95 ms', `under ${fmt(GOAL_MS)} ms`],
  results.map((r) => [r.name, fmt(r.p50), fmt(r.p95), r.p95 < GOAL_MS ? 'yes' : '**no**']),
  ['l', 'r', 'r', 'l'],
);
const body = `Last run: ${when} UTC · machine: ${machine} · command: \`npm run bench:ui\`

\`threadline server\` on bench/search's SQLite database (${fmt(sizes.traces)} traces, ${fmt(sizes.users)} users, ${fmt(sizes.sessions)} sessions), the built UI in headless Chromium (Debian's, through playwright-core), one tab. Each time runs from navigation to the view's first rows (or chart) on screen, over ${iterations} visits after one warm-up visit; goal: under ${fmt(GOAL_MS)} ms.

${table}

The overview's window here does not start on the hour (it ends at the newest trace), so its
12-hour buckets cut 61 hours: those are scanned, the other ~660 hours are read from the hourly
rollup (trace_hours). By user, the busiest users and their series are still counted from the
traces of the whole range (two grouped scans of ~1M rows): the rollup has no user dimension.
`;
log('');
log(body);
if (!args['no-write']) writeBenchmarkSection('ui', 'Web UI first screens (bench/ui)', body);
