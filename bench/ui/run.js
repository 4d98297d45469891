#!/usr/bin/env node
/**
 * bench/ui: how long each first screen of the web UI takes to show its data on bench/search's
 * 1,000,000-trace database (10k users, 100k sessions): a real `threadline server` process on the
 * cached SQLite file, Debian's Chromium through playwright-core, the time from navigation to the
 * view's first rows (or chart) on screen. Goal: under a second for every first screen.
 *
 * The overview's cost by model: when the built UI has no chart of it yet (it would ask
 * `POST /api/threadline/models/metrics`), the row times the overview's first screen together with
 * that request, made by the page as the chart would make it (the same window and buckets) as soon
 * as its document is parsed; once the UI makes the request itself, its own request is waited for.
 *
 * Usage: npm run bench:ui [-- --traces 1000000 --iterations 7 --no-write]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
const MODELS_PATH = '/threadline/models/metrics';
// Whether the built UI (what `threadline server` serves) asks for the models metrics anywhere.
const uiAssets = fileURLToPath(new URL('../../packages/ui/dist/assets/', import.meta.url));
const uiHasModelChart = readdirSync(uiAssets).some((name) => name.endsWith('.js') && readFileSync(join(uiAssets, name), 'utf8').includes(MODELS_PATH));
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${osType()} ${release()}, Node ${process.version}`;

// The database bench/search builds (and caches); built here too when missing.
const { path } = await ensureDatabase({ ...sizes, cacheDir: args['cache-dir'], log });
const server = await startServerProcess({ dbPath: path });
const browser = await launchBrowser();
const results = [];
/** What the models metrics answered (how many models and buckets), and the bucket asked for; when, after navigation. */
let modelsAnswer;
const modelsAt = [];
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
  const [from, to] = [last - month, last + 1];
  // The overview's buckets for a fixed window (OverviewPage.tsx): about 60, whole minutes (721 for these 30 days and 1 ms).
  const bucket = Math.max(60_000, Math.ceil((to - from) / 60 / 60_000) * 60_000);
  const modelsBody = { experiment_id: exp, start_time_ms: from, end_time_ms: to, bucket_ms: bucket };
  const enc = encodeURIComponent;
  const views = [
    ['Traces (newest first)', `/experiments/${exp}/traces`, '[data-testid="traces-table"] [role="row"][data-index]'],
    ['Traces of one user', `/experiments/${exp}/traces?user=${enc(users[0].user_id)}`, '[data-testid="traces-table"] [role="row"][data-index]'],
    ['Sessions', `/experiments/${exp}/sessions`, '[data-testid="sessions-table"] [role="row"][data-index]'],
    ['Session page (its turns)', `/experiments/${exp}/sessions/${enc(sessions[0].session_id)}`, '[data-testid="turn"]'],
    ['Users', `/experiments/${exp}/users`, '[data-testid="users-table"] [role="row"][data-index]'],
    ['User page (sessions)', `/experiments/${exp}/users/${enc(users[0].user_id)}`, '[data-testid="user-sessions"] [role="row"][data-index]'],
    ['Overview, 30 days (all traces)', `/experiments/${exp}/overview?from=${from}&to=${to}`, '[data-testid="chart-traces"] canvas'],
    // Visited alternately with the overview above, so that the two are measured under the same load.
    [
      uiHasModelChart ? 'Overview with cost by model, 30 days' : 'Overview with cost by model, 30 days (no chart yet: its request)',
      `/experiments/${exp}/overview?from=${from}&to=${to}`,
      '[data-testid="chart-traces"] canvas',
      // With the UI's chart: it drawn too, from that answer.
      { models: true, alternate: true, ...(uiHasModelChart ? { also: '[data-testid="chart-model-cost"] canvas' } : {}) },
    ],
    ['Overview, 30 days, by user', `/experiments/${exp}/overview?from=${from}&to=${to}&group=user`, '[data-testid="chart-groups"] canvas'],
  ];
  const page = await browser.context.newPage();
  page.setDefaultTimeout(60_000);
  // A page of its own that asks for the models metrics as the chart would, once its document is parsed.
  const modelsPage = await browser.context.newPage();
  modelsPage.setDefaultTimeout(60_000);
  if (!uiHasModelChart) {
    await modelsPage.addInitScript(({ path, body }) => {
      if (location.pathname.endsWith('/overview')) {
        document.addEventListener('DOMContentLoaded', () => {
          void fetch(`/ajax-api${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.text());
        });
      }
    }, { path: MODELS_PATH, body: modelsBody });
  }
  /** One visit: ms from navigation to its data on screen (and, for the models row, the models metrics answered). */
  const visit = async ([, path, ready, options = {}]) => {
    const tab = options.models ? modelsPage : page;
    await tab.goto('about:blank');
    const started = performance.now();
    // The models metrics answered (its whole body) and the overview's chart drawn: the later of the two.
    const models = options.models
      ? tab.waitForResponse((r) => r.url().endsWith(MODELS_PATH) && r.request().method() === 'POST').then(async (r) => {
          if (!r.ok()) throw new Error(`${MODELS_PATH} answered ${r.status()}: ${await r.text()}`);
          const answer = JSON.parse((await r.body()).toString('utf8'));
          modelsAt.push(performance.now() - started);
          modelsAnswer = { models: answer.models.length, buckets: answer.times_ms.length, bucketHours: answer.bucket_ms / 3_600_000, askedMinutes: modelsBody.bucket_ms / 60_000 };
        })
      : undefined;
    await tab.goto(base + path);
    await Promise.all([tab.waitForSelector(ready), models, options.also ? tab.waitForSelector(options.also) : undefined]);
    return performance.now() - started;
  };
  // Views measured one after the other, each on its own but those marked `alternate`, which take turns with the one before.
  const blocks = [];
  for (const view of views) {
    if (view[3]?.alternate) blocks.at(-1).push(view);
    else blocks.push([view]);
  }
  for (const block of blocks) {
    const times = block.map(() => []);
    for (let i = 0; i <= iterations; i++) {
      for (const [k, view] of block.entries()) {
        const ms = await visit(view);
        if (i > 0) times[k].push(ms); // the first visit warms the server's and the browser's caches
      }
    }
    for (const [k, [name, path]] of block.entries()) {
      const row = { name, path, p50: median(times[k]), p95: percentile(times[k], 95), max: Math.max(...times[k]) };
      results.push(row);
      log(`${name.padEnd(28)} p50 ${fmt(row.p50)} ms  p95 ${fmt(row.p95)} ms`);
    }
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
const command = `npm run bench:ui${iterations !== 7 ? ` -- --iterations ${iterations}` : ''}`;
const body = `Last run: ${when} UTC · machine: ${machine} · command: \`${command}\`

\`threadline server\` on bench/search's SQLite database (${fmt(sizes.traces)} traces, ${fmt(sizes.users)} users, ${fmt(sizes.sessions)} sessions), the built UI in headless Chromium (Debian's, through playwright-core), one tab (a second for the cost-by-model row). Each time runs from navigation to the view's first rows (or chart) on screen, over ${iterations} visits after one warm-up visit; goal: under ${fmt(GOAL_MS)} ms.

${table}

The overview's window here does not start on the hour (it ends at the newest trace). Its charts
are drawn on whole hours, read from the hourly rollups (trace_hours, model_hours, feedback); its
cards count the exact window, scanning only the two hours its ends cut. The busiest users (by
user) and the top spenders are found from the users' and sessions' all-time totals as bounds,
each candidate counted from its own traces (store/metric-groups.ts); the top spenders ask for
their groups only.

${
  uiHasModelChart
    ? `Cost by model: the overview's own request to \`POST /api/threadline/models/metrics\` (read from the hourly \`model_hours\` rollup; it answered ${modelsAnswer.models} models in ${modelsAnswer.buckets} buckets of ${modelsAnswer.bucketHours} hours, in full at p50 ${fmt(median(modelsAt.slice(1)))} ms after navigation) waited for, and both the overview's first chart and its cost-by-model chart drawn; visited alternately with the overview above.`
    : `**Cost by model: the UI on this branch has no cost-by-model chart yet** (another branch adds it). The row times the overview's first screen together with the request that chart will make, \`POST /api/threadline/models/metrics\` for the same 30 days and the overview's buckets (${fmt(modelsAnswer.askedMinutes)} minutes, which the endpoint widens to whole hours; read from the hourly \`model_hours\` rollup, one row per hour and model; it answered ${modelsAnswer.models} models in ${modelsAnswer.buckets} buckets of ${modelsAnswer.bucketHours} hours), sent by the page as soon as its document is parsed and timed, like every row, from navigation until the later of the chart drawn and the request answered in full (at p50 ${fmt(median(modelsAt.slice(1)))} ms after navigation); visited alternately with the overview above, under the same load. It measures the server's answer and the page around it, not drawing the new chart.`
}
`;
log('');
log(body);
if (!args['no-write']) writeBenchmarkSection('ui', 'Web UI first screens (bench/ui)', body);
