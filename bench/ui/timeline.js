#!/usr/bin/env node
/**
 * Where a first screen's time goes: the requests of a few visits to one page of the UI, each with
 * when it was sent and answered after navigation, and when the page's chart or rows were on
 * screen. Visits follow each other as in bench:ui, so a request still running from the visit
 * before shows as a late answer to this one's first requests. On bench/search's database.
 *
 * Usage: node bench/ui/timeline.js [--view overview|overview-by-user|traces|sessions|users] [--visits N] [--traces N]
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { launchBrowser } from '../../packages/ui/scripts/browser.mjs';
import { request } from '../../packages/ui/scripts/seed.mjs';
import { log, positiveOption } from '../lib/cli.js';
import { startServerProcess } from '../lib/server-process.js';
import { ensureDatabase } from '../search/dataset.js';

const { values: args } = parseArgs({
  options: {
    view: { type: 'string', default: 'overview' },
    visits: { type: 'string', default: '4' },
    traces: { type: 'string', default: '1000000' },
    'cache-dir': { type: 'string', default: process.env.THREADLINE_BENCH_CACHE ?? join(tmpdir(), 'threadline-bench-cache') },
  },
});
const traces = positiveOption(args, 'traces');
const visits = positiveOption(args, 'visits');
const { path } = await ensureDatabase({ traces, users: Math.max(1, Math.round(traces / 100)), sessions: Math.max(1, Math.round(traces / 10)), cacheDir: args['cache-dir'], log });
const server = await startServerProcess({ dbPath: path });
const browser = await launchBrowser();
try {
  const base = server.url;
  const { experiment } = await request(base, 'GET', '/api/2.0/mlflow/experiments/get-by-name?experiment_name=search-bench');
  const exp = experiment.experiment_id;
  const { users } = await request(base, 'POST', '/api/threadline/users/search', { experiment_id: exp, max_results: 1 });
  const last = users[0].last_time_ms;
  const [from, to] = [last - 30 * 86_400_000, last + 1];
  const views = {
    overview: [`/experiments/${exp}/overview?from=${from}&to=${to}`, '[data-testid="chart-traces"] canvas'],
    'overview-by-user': [`/experiments/${exp}/overview?from=${from}&to=${to}&group=user`, '[data-testid="chart-groups"] canvas'],
    traces: [`/experiments/${exp}/traces`, '[data-testid="traces-table"] [role="row"][data-index]'],
    sessions: [`/experiments/${exp}/sessions`, '[data-testid="sessions-table"] [role="row"][data-index]'],
    users: [`/experiments/${exp}/users`, '[data-testid="users-table"] [role="row"][data-index]'],
  };
  const view = views[args.view];
  if (!view) throw new Error(`--view must be one of ${Object.keys(views).join(', ')}; got '${args.view}'.`);
  const page = await browser.context.newPage();
  page.setDefaultTimeout(60_000);
  for (let i = 1; i <= visits; i++) {
    await page.goto('about:blank');
    const started = performance.now();
    const at = () => Math.round(performance.now() - started);
    const events = [];
    const describe = (r) => `${r.method()} ${r.url().replace(base, '')}${r.postData() ? ` ${r.postData()}` : ''}`.slice(0, 180);
    const sent = (r) => events.push([at(), 'sent    ', describe(r)]);
    const answered = (r) => events.push([at(), 'answered', describe(r)]);
    page.on('request', sent);
    page.on('requestfinished', answered);
    await page.goto(base + view[0]);
    await page.waitForSelector(view[1]);
    const shown = at();
    page.off('request', sent);
    page.off('requestfinished', answered);
    log(`visit ${i}: on screen after ${shown} ms`);
    for (const [ms, what, which] of events) log(`  ${String(ms).padStart(6)} ms  ${what}  ${which}`);
  }
} finally {
  await browser.close();
  await server.stop();
}
