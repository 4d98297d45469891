#!/usr/bin/env node
/**
 * bench:soak: a real `threadline server` on a SQLite file taking the bench:ingest workload as fast
 * as it will, 32 traces in flight, for a long time (issue 16: 30 minutes). At each report (every
 * minute by default) it prints the rate, the server's CPU per trace, its RSS and the WAL's size,
 * so that a leak, a slowdown as the database grows, or checkpoints falling behind show as a
 * trend. At the end the server is killed with SIGKILL while traces are in flight, and every trace
 * it acknowledged must be in the file with all of its spans.
 *
 * Usage: npm run bench:soak [-- --minutes M --report-seconds S --concurrency C --no-write --keep]
 */
import BetterSqlite3 from 'better-sqlite3';
import http from 'node:http';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir, totalmem, type as osType, release, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { log, positiveOption } from '../lib/cli.js';
import { RssSampler, startServerProcess } from '../lib/server-process.js';
import { fmt, markdownTable, median } from '../lib/stats.js';
import { sendTrace } from './http-load.js';
import { makeTraceSet } from './workload.js';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    'report-seconds': { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '32' },
    seed: { type: 'string', default: '20261206' },
    'no-write': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(args.minutes);
if (!(MINUTES > 0)) throw new Error(`--minutes must be a positive number; got '${args.minutes}'.`);
const REPORT_SECONDS = positiveOption(args, 'report-seconds');
const REPORTS = Math.max(1, Math.round((MINUTES * 60) / REPORT_SECONDS));
const CONCURRENCY = positiveOption(args, 'concurrency');
const SEED = Number(args.seed) || 1;
/** Traces generated at a time: the whole run's bodies would not fit in memory. */
const CHUNK = 2_000;
const SPANS_PER_TRACE = 5;
/** Reports at the start left out of the trend (up to 5 minutes): V8 and SQLite's caches are still growing. */
const SETTLE_REPORTS = Math.min(Math.round(300 / REPORT_SECONDS), Math.floor(REPORTS / 3));

const dir = mkdtempSync(join(tmpdir(), 'threadline-soak-'));
const dbPath = join(dir, 'soak.db');
const server = await startServerProcess({ dbPath });
const rss = new RssSampler(server.pid, 1000);
log(`soak: ${MINUTES} min against ${server.url} (pid ${server.pid}), ${CONCURRENCY} in flight, database ${dbPath}`);

let chunkIndex = 0;
let chunk = [];
let chunkNext = 0;
function nextTrace() {
  if (chunkNext === chunk.length) {
    chunk = makeTraceSet(CHUNK, SEED + chunkIndex, chunkIndex);
    chunkIndex++;
    chunkNext = 0;
  }
  return chunk[chunkNext++];
}

/** Ids of the traces whose two calls both got their 200. */
const acknowledged = [];
let killing = false;
let failure;
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const base = new URL(server.url);
const sockets = new Set();
const worker = async () => {
  while (!killing && failure === undefined) {
    const trace = nextTrace();
    try {
      await sendTrace(agent, base, trace, sockets, {});
      acknowledged.push(trace.traceId);
    } catch (error) {
      // After the kill, calls fail: those traces were never acknowledged.
      if (!killing) failure = error;
      return;
    }
  }
};

const reports = [];
/** m:ss since the start. */
const clock = (seconds) => `${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, '0')}`;
const walPath = `${dbPath}-wal`;
const sizeOf = (path) => (existsSync(path) ? statSync(path).size : 0);
const workers = Array.from({ length: CONCURRENCY }, worker);
const started = performance.now();
let last = { t: started, traces: 0, cpuMs: server.cpuMs() };
for (let report = 1; report <= REPORTS && failure === undefined; report++) {
  while (performance.now() < started + report * REPORT_SECONDS * 1000 && failure === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
  const now = { t: performance.now(), traces: acknowledged.length, cpuMs: server.cpuMs() };
  const traces = now.traces - last.traces;
  const row = {
    at: clock(report * REPORT_SECONDS),
    rate: (traces * 1000) / (now.t - last.t),
    cpuUsPerTrace: traces > 0 ? ((now.cpuMs - last.cpuMs) * 1000) / traces : NaN,
    rssMib: rss.sample() / 1024,
    walMib: sizeOf(walPath) / 2 ** 20,
    dbGib: sizeOf(dbPath) / 2 ** 30,
    stored: now.traces,
    load: loadavg()[0],
  };
  reports.push(row);
  log(`${row.at}: ${fmt(row.rate)} traces/s, ${fmt(row.cpuUsPerTrace)} µs CPU/trace, RSS ${fmt(row.rssMib, 1)} MiB, WAL ${fmt(row.walMib, 1)} MiB, file ${fmt(row.dbGib, 2)} GiB, ${fmt(row.stored)} traces acknowledged, load ${fmt(row.load, 2)}`);
  last = now;
}
if (failure !== undefined) {
  await server.stop();
  throw failure;
}

// SIGKILL with every worker's trace in flight: nothing acknowledged may be missing afterwards.
const inFlightAtKill = CONCURRENCY;
const acknowledgedBeforeKill = acknowledged.length;
killing = true;
process.kill(server.pid, 'SIGKILL');
const exit = await server.exited;
await Promise.all(workers);
agent.destroy();
rss.stop();
const acknowledgedDuringKill = acknowledged.length - acknowledgedBeforeKill;

log(`killed (${exit}); checking ${fmt(acknowledged.length)} acknowledged traces in the file…`);
const db = new BetterSqlite3(dbPath, { readonly: false });
const spanCounts = new Map();
for (const row of db.prepare('SELECT t.trace_id AS id, COUNT(*) AS n FROM spans AS s JOIN traces AS t ON t.trace_key = s.trace_key GROUP BY s.trace_key').iterate()) spanCounts.set(row.id, row.n);
const storedTraces = db.prepare('SELECT COUNT(*) AS n FROM traces').get().n;
db.close();
const missing = acknowledged.filter((id) => spanCounts.get(id) !== SPANS_PER_TRACE);
const fileGib = sizeOf(dbPath) / 2 ** 30;
if (!args.keep) rmSync(dir, { recursive: true, force: true });
else log(`kept ${dir}`);

const counted = reports.slice(SETTLE_REPORTS);
const first = counted[0];
const lastMinute = counted.at(-1);
const rssValues = counted.map((m) => m.rssMib);
const summary = {
  rateFirst: first.rate,
  rateLast: lastMinute.rate,
  rssMin: Math.min(...rssValues),
  rssMax: Math.max(...rssValues),
  rssFirst: first.rssMib,
  rssLast: lastMinute.rssMib,
  walMax: Math.max(...reports.map((m) => m.walMib)),
};

const machine = `${cpus().length} cores (${(cpus()[0]?.model ?? '').split(' ').slice(0, 2).join(' ')}), ${fmt(totalmem() / 2 ** 30)} GiB, ${osType()} ${release()}, Node ${process.version}`;
const table = markdownTable(
  ['at', 'traces/s', 'server CPU µs/trace', 'server RSS MiB', 'WAL MiB', 'file GiB', 'load avg'],
  reports.map((m) => [m.at, fmt(m.rate), fmt(m.cpuUsPerTrace), fmt(m.rssMib, 1), fmt(m.walMib, 1), fmt(m.dbGib, 2), fmt(m.load, 2)]),
  ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
);
const body = `Last run: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · machine: ${machine} · command: \`npm run bench:soak -- --minutes ${MINUTES} --report-seconds ${REPORT_SECONDS}\`

Workload: the bench:ingest traces (5 spans, the SDK's two calls each), as fast as the server takes them with ${CONCURRENCY} in flight, for ${MINUTES} minutes on one SQLite file, reported every ${REPORT_SECONDS} s; then SIGKILL with ${inFlightAtKill} traces in flight.

${table}

- **Rate**: ${fmt(median(counted.map((m) => m.rate)))} traces/s, the median of the reports from ${first.at} to ${lastMinute.at}; at ${first.at} ${fmt(summary.rateFirst)}, at ${lastMinute.at} ${fmt(summary.rateLast)} (last / first = ${fmt(summary.rateLast / summary.rateFirst, 2)}), with the file grown to ${fmt(fileGib, 2)} GiB.
- **Server RSS** from ${first.at} to ${lastMinute.at}: ${fmt(summary.rssMin, 1)}–${fmt(summary.rssMax, 1)} MiB (${fmt(summary.rssFirst, 1)} MiB at ${first.at}, ${fmt(summary.rssLast, 1)} MiB at ${lastMinute.at}: last / first = ${fmt(summary.rssLast / summary.rssFirst, 2)}).
- **WAL file**: at most ${fmt(summary.walMax, 1)} MiB. SQLite writes the WAL again from its start once a checkpoint has copied it all, so the file's size is its high-water mark: flat while checkpoints keep up with the writes, growing with the data if they fell behind.
- **kill -9**: ${fmt(acknowledged.length)} traces acknowledged (${fmt(acknowledgedDuringKill)} of them answered as the kill landed), ${fmt(storedTraces)} trace rows in the file after it; acknowledged traces missing or without all ${SPANS_PER_TRACE} spans: **${fmt(missing.length)}**.
`;
log(`\n${body}`);
if (!args['no-write']) log(`wrote ${writeBenchmarkSection('soak', 'Ingest soak (bench/ingest/soak.js)', body)}`);
if (missing.length > 0) {
  log(`FAILED: ${missing.length} acknowledged traces missing, e.g. ${missing.slice(0, 5).join(', ')}`);
  process.exitCode = 1;
}
