#!/usr/bin/env node
/**
 * bench/auth: what accounts cost on the ingest path. Two `threadline server` processes on SQLite
 * files of their own, one open and one with `--auth` (the client sends an API token, as
 * MLFLOW_TRACKING_TOKEN makes the SDKs do), take the same trace sets over the MLflow REST flow,
 * in alternating order round by round; medians and their ratio are reported (goal: auth on ≥ 0.9
 * of auth off).
 *
 * Usage: npm run bench:auth [-- --traces N --rounds R --concurrency C --no-write]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { log, positiveOption } from '../lib/cli.js';
import { startServerProcess } from '../lib/server-process.js';
import { fmt, markdownTable, median } from '../lib/stats.js';
import { sendTraces } from '../ingest/http-load.js';
import { makeTraceSet } from '../ingest/workload.js';

const GOAL = 0.9;
const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '6' },
    concurrency: { type: 'string', default: '32' },
    warmup: { type: 'string', default: '300' },
    seed: { type: 'string', default: '20261205' },
    'no-write': { type: 'boolean', default: false },
  },
});
const N = positiveOption(args, 'traces');
const ROUNDS = positiveOption(args, 'rounds');
const CONCURRENCY = positiveOption(args, 'concurrency');
const WARMUP = Math.max(0, Number(args.warmup) || 0);
const SEED = Number(args.seed) || 1;
const ADMIN = { username: 'bench', password: 'bench password 1' };

const dir = mkdtempSync(join(tmpdir(), 'threadline-bench-auth-'));
const servers = [];
try {
  const open = await startServerProcess({ dbPath: join(dir, 'open.db') });
  servers.push(open);
  const guarded = await startServerProcess({
    dbPath: join(dir, 'auth.db'),
    serverArgs: ['--auth'],
    env: { ...process.env, THREADLINE_ADMIN_USERNAME: ADMIN.username, THREADLINE_ADMIN_PASSWORD: ADMIN.password },
  });
  servers.push(guarded);
  const basic = `Basic ${Buffer.from(`${ADMIN.username}:${ADMIN.password}`).toString('base64')}`;
  const created = await fetch(`${guarded.url}/api/threadline/tokens`, { method: 'POST', headers: { authorization: basic, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }) });
  if (!created.ok) throw new Error(`creating a token: ${created.status} ${await created.text()}`);
  const authorization = `Bearer ${(await created.json()).token}`;
  const targets = { off: { url: open.url, options: {} }, on: { url: guarded.url, options: { authorization } } };

  log(`bench:auth  ${N} traces x ${ROUNDS} rounds (+${WARMUP} warm-up), concurrency ${CONCURRENCY}, ${cpus().length} cores`);
  const send = async (which, traces) => (traces.length * 1000) / (await sendTraces(targets[which].url, traces, CONCURRENCY, targets[which].options)).elapsedMs;
  if (WARMUP > 0) for (const which of ['off', 'on']) await send(which, makeTraceSet(WARMUP, SEED, 0));
  const rounds = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const traces = makeTraceSet(N, SEED + r, r);
    const order = r % 2 === 0 ? ['on', 'off'] : ['off', 'on'];
    const rates = {};
    for (const which of order) rates[which] = await send(which, traces);
    rounds.push(rates);
    log(`round ${r}/${ROUNDS}  auth off ${fmt(rates.off)} traces/s   auth on (token) ${fmt(rates.on)} traces/s   ratio ${fmt(rates.on / rates.off, 3)}`);
  }
  const off = median(rounds.map((r) => r.off));
  const on = median(rounds.map((r) => r.on));
  const ratio = median(rounds.map((r) => r.on / r.off));
  const table = markdownTable(
    ['server', 'traces/s (median)', 'range'],
    [
      ['no accounts', fmt(off), `${fmt(Math.min(...rounds.map((r) => r.off)))}–${fmt(Math.max(...rounds.map((r) => r.off)))}`],
      ['--auth, API token on every request', fmt(on), `${fmt(Math.min(...rounds.map((r) => r.on)))}–${fmt(Math.max(...rounds.map((r) => r.on)))}`],
    ],
    ['l', 'r', 'r'],
  );
  const verdict = `**auth on / auth off = ${fmt(ratio, 3)}** (median of per-round ratios; goal ≥ ${GOAL}: ${ratio >= GOAL ? 'met' : 'NOT met'})`;
  log();
  log(table);
  log();
  log(verdict);
  if (!args['no-write']) {
    const date = new Date().toISOString().replace('T', ' ').slice(0, 16);
    const body = [
      `Last run: ${date} UTC · ${cpus().length} cores · \`npm run bench:auth${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\``,
      '',
      `The MLflow REST flow (two calls per trace, ${CONCURRENCY} in flight) against two servers on their own SQLite files, one without accounts and one with \`--auth\` taking an API token on every call; ${fmt(N)} traces per round, ${ROUNDS} rounds, alternating which server goes first.`,
      '',
      table,
      '',
      verdict,
    ].join('\n');
    log(`\nwrote ${writeBenchmarkSection('auth', 'Ingest with accounts on (bench:auth)', body)}`);
  }
} finally {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
}
