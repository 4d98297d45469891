#!/usr/bin/env node
/**
 * bench/ingest on PostgreSQL (issue 16): the bench:ingest workload sent to two `threadline server`
 * replicas sharing one new schema, calls spread over both as a balancer would (a trace's create
 * and its upload reach different replicas). Reported per trace: traces per second, the replicas'
 * CPU, the CPU of their database backends (read from /proc, by the application name they connect
 * with), and the WAL PostgreSQL wrote (`pg_current_wal_lsn`, the whole server's: run it on a
 * quiet database). Which of the three the two cores spend most on is the next bottleneck.
 *
 * Usage: npm run bench:ingest:postgres [-- --traces N --warmup W --concurrency C --postgres URL --no-write]
 */
import { cpus, totalmem, type as osType, release } from 'node:os';
import { parseArgs } from 'node:util';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { createBenchSchema } from '../lib/postgres-schema.js';
import { log, positiveOption } from '../lib/cli.js';
import { ownCpuMs, readCpuMs } from '../lib/proc.js';
import { startServerProcess } from '../lib/server-process.js';
import { fmt, markdownTable } from '../lib/stats.js';
import { sendTraces } from './http-load.js';
import { makeTraceSet } from './workload.js';

const SPANS_PER_TRACE = 5;

const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: '4000' },
    warmup: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '32' },
    postgres: { type: 'string', default: process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test' },
    seed: { type: 'string', default: '20260115' },
    'no-write': { type: 'boolean', default: false },
  },
});
const N = positiveOption(args, 'traces');
const WARMUP = positiveOption(args, 'warmup');
const CONCURRENCY = positiveOption(args, 'concurrency');
const SEED = Number(args.seed) || 1;

const { schema, applicationName, storeUri, admin, drop } = await createBenchSchema(args.postgres, 'bench_ingest');
const replicas = [];

try {
  for (let i = 0; i < 2; i++) replicas.push(await startServerProcess({ backendStoreUri: storeUri }));
  const urls = replicas.map((r) => r.url);
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${osType()} ${release()}, Node ${process.version}`;
  const version = (await admin.query('SHOW server_version')).rows[0].server_version;
  log(`bench:ingest:postgres  ${N} traces (+${WARMUP} warm-up), ${CONCURRENCY} in flight, two replicas, schema ${schema}, PostgreSQL ${version}`);

  await sendTraces(urls, makeTraceSet(WARMUP, SEED, 0), CONCURRENCY);
  const backends = async () => (await admin.query('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [applicationName])).rows.map((r) => r.pid);
  const backendCpu = async () => new Map((await backends()).map((pid) => [pid, readCpuMs(pid) || 0]));
  const walLsn = async () => (await admin.query('SELECT pg_current_wal_lsn() AS lsn')).rows[0].lsn;

  const before = { lsn: await walLsn(), backends: await backendCpu(), replicas: replicas.map((r) => r.cpuMs()), client: ownCpuMs() };
  const load = await sendTraces(urls, makeTraceSet(N, SEED + 1, 1), CONCURRENCY);
  const walBytes = Number((await admin.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1) AS bytes', [before.lsn])).rows[0].bytes);
  // A backend the pools opened during the run counts from zero; one they closed is not counted.
  let backendMs = 0;
  for (const [pid, ms] of await backendCpu()) backendMs += ms - (before.backends.get(pid) ?? 0);
  const replicaMs = replicas.map((r, i) => r.cpuMs() - before.replicas[i]);
  const clientMs = ownCpuMs() - before.client;

  const stored = (await admin.query(`SELECT (SELECT count(*) FROM ${schema}.traces) AS traces, (SELECT count(*) FROM ${schema}.spans) AS spans`)).rows[0];
  const expected = WARMUP + N;
  const verified = Number(stored.traces) === expected && Number(stored.spans) === expected * SPANS_PER_TRACE;

  const rate = (N * 1000) / load.elapsedMs;
  const perTrace = (ms) => fmt((ms * 1000) / N);
  const serverUs = (replicaMs[0] + replicaMs[1]) * 1000 / N;
  const table = markdownTable(
    ['measure', 'value'],
    [
      ['traces/s (two replicas, 32 in flight)', fmt(rate)],
      ['spans/s', fmt(rate * SPANS_PER_TRACE)],
      ['replicas CPU µs per trace (both)', `${fmt(serverUs)} (${perTrace(replicaMs[0])} + ${perTrace(replicaMs[1])})`],
      ['PostgreSQL backends CPU µs per trace', perTrace(backendMs)],
      ['client CPU µs per trace', perTrace(clientMs)],
      ['WAL KiB per trace', fmt(walBytes / 1024 / N, 1)],
      ['CPU used of the 2 cores', `${fmt(((replicaMs[0] + replicaMs[1] + backendMs + clientMs) / load.elapsedMs / 2) * 100)} %`],
    ],
    ['l', 'r'],
  );
  const verifyLine = verified
    ? `Checked: the schema holds ${fmt(expected)} traces and ${fmt(expected * SPANS_PER_TRACE)} spans.`
    : `**Row check FAILED**: ${stored.traces} traces and ${stored.spans} spans stored, ${expected} and ${expected * SPANS_PER_TRACE} sent.`;
  log();
  log(table);
  log();
  log(verifyLine);
  if (!args['no-write']) {
    const date = new Date().toISOString().replace('T', ' ').slice(0, 16);
    const command = `npm run bench:ingest:postgres${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    const body = [
      `Last run: ${date} UTC · machine: ${machine}, PostgreSQL ${version} on the same machine · command: \`${command}\``,
      '',
      `Workload: bench:ingest's traces (5 spans, the TypeScript SDK's two calls each), ${fmt(N)} after ${fmt(WARMUP)} warm-up, ${CONCURRENCY} in flight, sent to two \`threadline server\` replicas on one new schema; calls alternate between them, so a trace's create and upload reach different replicas.`,
      'CPU: user + system time of each replica process and of the PostgreSQL backends of their pools (by application name), over the counted traces. WAL: `pg_wal_lsn_diff` over the run, the whole server\'s.',
      '',
      table,
      '',
      verifyLine,
    ].join('\n');
    log(`\nwrote ${writeBenchmarkSection('ingest-postgres', 'Ingest on PostgreSQL, two replicas (bench/ingest/postgres.js)', body)}`);
  }
  if (!verified) process.exitCode = 1;
} finally {
  await Promise.all(replicas.map((r) => r.stop()));
  await drop();
}
