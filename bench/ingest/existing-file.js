#!/usr/bin/env node
/**
 * Ingest into a database that already holds many traces (a file kept by `bench:soak -- --keep`),
 * beside the same traces sent into a new file, rounds alternating: how the server's rate, CPU
 * and bytes written per trace change with the size of what it writes into. With --sql-timer, SQL
 * time per trace by statement (bench/lib/sql-timer.js); with --strace, the server's system calls
 * counted by `strace -c -f` (SQLite's page reads and writes are its pread64 and pwrite64).
 *
 * Usage: node bench/ingest/existing-file.js --db FILE [--traces N --rounds R --sql-timer --strace]
 *
 * Each round adds its traces to FILE (new ids: nothing is repeated).
 */
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { log, positiveOption } from '../lib/cli.js';
import { startServerProcess } from '../lib/server-process.js';
import { fmt, markdownTable } from '../lib/stats.js';
import { sendTraces } from './http-load.js';
import { makeTraceSet } from './workload.js';

const { values: args } = parseArgs({
  options: {
    db: { type: 'string' },
    traces: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '32' },
    'sql-timer': { type: 'boolean', default: false },
    strace: { type: 'boolean', default: false },
  },
});
if (!args.db) throw new Error('--db FILE is required: a SQLite file of the server, e.g. one kept by bench:soak -- --keep.');
const N = positiveOption(args, 'traces');
const WARMUP = positiveOption(args, 'warmup');
const ROUNDS = positiveOption(args, 'rounds');
const CONCURRENCY = positiveOption(args, 'concurrency');
const SQL_TIMER = fileURLToPath(new URL('../lib/sql-timer.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'threadline-existing-file-'));
const newFile = join(work, 'new.db');
// Trace sets nobody sent before: their ids come from a random seed (a seed used before, here or
// by another tool writing into the file, would repeat its traces at other times: 409s).
const seed = randomInt(1, 2 ** 31 - 1);
let set = 0;
const nextSet = (count) => makeTraceSet(count, seed + set, set++);

async function measure(label, dbPath, round) {
  const timerOut = join(work, `sql-${label}-${round}.json`);
  const server = await startServerProcess({
    dbPath,
    nodeArgs: args['sql-timer'] ? ['--import', SQL_TIMER] : [],
    env: { ...process.env, SQL_TIMER_OUT: timerOut },
  });
  await sendTraces(server.url, nextSet(WARMUP), CONCURRENCY);
  const straceOut = join(work, `strace-${label}-${round}.txt`);
  const tracer = args.strace ? spawn('strace', ['-c', '-f', '-p', String(server.pid), '-o', straceOut], { stdio: 'ignore' }) : undefined;
  if (tracer) await new Promise((resolve) => setTimeout(resolve, 500));
  const traces = nextSet(N);
  const cpu = server.cpuMs();
  const written = server.writtenChars();
  const { elapsedMs } = await sendTraces(server.url, traces, CONCURRENCY);
  const result = {
    label,
    rate: (N * 1000) / elapsedMs,
    cpuUs: ((server.cpuMs() - cpu) * 1000) / N,
    kib: (server.writtenChars() - written) / 1024 / N,
  };
  if (tracer) {
    tracer.kill('SIGINT');
    await new Promise((resolve) => tracer.once('exit', resolve));
    const calls = (name) => Number(new RegExp(`^\\s*[\\d.]+\\s+[\\d.]+\\s+\\d+\\s+(\\d+)\\s+(?:\\d+\\s+)?${name}$`, 'm').exec(readFileSync(straceOut, 'utf8'))?.[1] ?? NaN);
    result.reads = calls('pread64') / N;
    result.writes = calls('pwrite64') / N;
  }
  await server.stop();
  if (args['sql-timer']) result.statements = new Map(JSON.parse(readFileSync(timerOut, 'utf8')));
  return result;
}

const results = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const [label, path] of round % 2 === 1 ? [['existing', args.db], ['new', newFile]] : [['new', newFile], ['existing', args.db]]) {
    const r = await measure(label, path, round);
    results.push(r);
    log(`round ${round}, ${label} file: ${fmt(r.rate)} traces/s, ${fmt(r.cpuUs)} µs server CPU/trace, ${fmt(r.kib, 1)} KiB written/trace${r.reads !== undefined ? `, ${fmt(r.reads, 1)} pread64 / ${fmt(r.writes, 1)} pwrite64 per trace` : ''}`);
  }
}

if (args['sql-timer']) {
  // Warm-up included: the timer runs from the server's start. Per trace of all sent.
  const perTrace = (label) => {
    const sum = new Map();
    const runs = results.filter((r) => r.label === label);
    for (const r of runs) for (const [text, { micros }] of r.statements) sum.set(text, (sum.get(text) ?? 0) + micros / (N + WARMUP) / runs.length);
    return sum;
  };
  const existing = perTrace('existing');
  const fresh = perTrace('new');
  const texts = [...new Set([...existing.keys(), ...fresh.keys()])].sort((a, b) => (existing.get(b) ?? 0) - (existing.get(a) ?? 0));
  const total = (m) => [...m.values()].reduce((a, b) => a + b, 0);
  log('\nSQL µs per trace, by statement (warm-up included)\n');
  log(markdownTable(['statement', 'new file', 'existing file'], [...texts.slice(0, 25).map((t) => [t.slice(0, 100), fmt(fresh.get(t) ?? 0, 1), fmt(existing.get(t) ?? 0, 1)]), ['all statements', fmt(total(fresh)), fmt(total(existing))]], ['l', 'r', 'r']));
}
rmSync(work, { recursive: true, force: true });
