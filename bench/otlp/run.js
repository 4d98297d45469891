#!/usr/bin/env node
/**
 * bench/otlp: spans ingested per second through OTLP/HTTP protobuf (`POST /v1/traces`, several
 * traces per request) beside the MLflow REST path (POST trace info + PUT traces.json per trace)
 * for the same spans, by one real `threadline server` on SQLite, in one run. Rounds alternate
 * which path goes first, on fresh trace sets; medians are reported, since the machine is shared.
 *
 * Usage: npm run bench:otlp [-- --traces N --rounds R --concurrency C --traces-per-request T --no-write]
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sendTraces } from '../ingest/http-load.js';
import { makeTraceSet } from '../ingest/workload.js';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { logCpuProfile } from '../lib/cpuprofile.js';
import { startServerProcess } from '../lib/server-process.js';
import { fmt, markdownTable, median } from '../lib/stats.js';
import { otlpRequestsOf } from './otlp-payloads.js';
import { positiveOption, log } from '../lib/cli.js';

const SPANS_PER_TRACE = 5;
/** Issue 16: OTLP spans per second in batches of 100. */
const OTLP_GOAL = 20_000;

const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: process.env.BENCH_OTLP_TRACES ?? '1000' },
    rounds: { type: 'string', default: process.env.BENCH_OTLP_ROUNDS ?? '6' },
    concurrency: { type: 'string', default: process.env.BENCH_OTLP_CONCURRENCY ?? '8' },
    'traces-per-request': { type: 'string', default: '20' },
    seed: { type: 'string', default: '20261123' },
    profile: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  process.stdout.write(`npm run bench:otlp [-- options]

  --traces N               traces per round and path (env BENCH_OTLP_TRACES, default 1000; 5 spans each)
  --rounds R               rounds, alternating which path goes first (env BENCH_OTLP_ROUNDS, default 6)
  --concurrency C          requests in flight per path (env BENCH_OTLP_CONCURRENCY, default 8 OTLP
                           requests; the REST path gets C x traces-per-request traces in flight)
  --traces-per-request T   traces per OTLP request (default 20: 100 spans)
  --profile                the OTLP path only, the server under node --cpu-prof: where its time goes
                           (BENCHMARKS.md is not updated)
  --no-write               do not update BENCHMARKS.md
`);
  process.exit(0);
}
const positive = (name) => positiveOption(args, name);
const N = positive('traces');
const ROUNDS = positive('rounds');
const CONCURRENCY = positive('concurrency');
const PER_REQUEST = positive('traces-per-request');
const SEED = Number(args.seed) || 1;
const PROFILE = args.profile;

/** POSTs protobuf requests with `concurrency` in flight on keep-alive connections; every one must get 200 and no partial success. */
async function sendOtlp(url, requests, concurrency) {
  const base = new URL(url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  const post = (body) =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { agent, host: base.hostname, port: base.port, method: 'POST', path: '/v1/traces', headers: { 'content-type': 'application/x-protobuf', 'content-length': body.length } },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const worker = async () => {
    while (next < requests.length) {
      const { body } = requests[next++];
      const res = await post(body);
      if (res.status !== 200 || res.body.length !== 0) throw new Error(`OTLP request: HTTP ${res.status}, ${res.body.length} bytes of reply (partial success?)`);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
  const elapsedMs = performance.now() - started;
  agent.destroy();
  return elapsedMs;
}

const dir = mkdtempSync(join(tmpdir(), 'threadline-bench-otlp-'));
let server;
try {
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${osType()} ${release()}, Node ${process.version}`;
  log(`bench:otlp  ${N} traces (${N * SPANS_PER_TRACE} spans) per path x ${ROUNDS} rounds; OTLP ${PER_REQUEST} traces per request, ${CONCURRENCY} requests in flight`);
  log(`machine: ${machine}`);
  const profileDir = join(dir, 'profile');
  server = await startServerProcess({ dbPath: join(dir, 'server.db'), nodeArgs: PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [] });

  // Warm-up of both paths (JIT, statement caches), not counted.
  // Each set has its own seed: one seed would give every set the same trace ids, and a trace
  // logged again with other times is refused (a finished trace cannot be rewritten).
  const warm = makeTraceSet(200, SEED + 1000, 999);
  await sendTraces(server.url, warm, CONCURRENCY * PER_REQUEST);
  await sendOtlp(server.url, otlpRequestsOf(warm, PER_REQUEST), CONCURRENCY);

  const rows = [];
  const rates = { otlp: [], rest: [] };
  /** Server CPU µs per span, per round and path. */
  const cpu = { otlp: [], rest: [] };
  /** Runs one path, answering its spans/s and noting the server's CPU per span. */
  const measured = async (path, spans, send) => {
    const cpu0 = server.cpuMs();
    const elapsedMs = await send();
    cpu[path].push(((server.cpuMs() - cpu0) * 1000) / spans);
    return (spans * 1000) / elapsedMs;
  };
  for (let round = 0; round < ROUNDS; round++) {
    const traces = makeTraceSet(N, SEED + round, round);
    const requests = otlpRequestsOf(traces, PER_REQUEST);
    const spans = requests.reduce((a, r) => a + r.spans, 0);
    const bytes = requests.reduce((a, r) => a + r.body.length, 0);
    const runOtlp = () => measured('otlp', spans, () => sendOtlp(server.url, requests, CONCURRENCY));
    const runRest = () => measured('rest', N * SPANS_PER_TRACE, async () => (await sendTraces(server.url, traces, CONCURRENCY * PER_REQUEST)).elapsedMs);
    if (PROFILE) {
      rates.otlp.push(await runOtlp());
      log(`round ${round + 1}: OTLP ${fmt(rates.otlp.at(-1))} spans/s`);
      continue;
    }
    const otlpFirst = round % 2 === 0;
    const first = otlpFirst ? await runOtlp() : await runRest();
    const second = otlpFirst ? await runRest() : await runOtlp();
    const [otlp, rest] = otlpFirst ? [first, second] : [second, first];
    rates.otlp.push(otlp);
    rates.rest.push(rest);
    rows.push([String(round + 1), otlpFirst ? 'OTLP' : 'REST', fmt(otlp), fmt(rest), fmt(otlp / rest, 2)]);
    log(`round ${round + 1}: OTLP ${fmt(otlp)} spans/s (${fmt(bytes / requests.length / 1024, 1)} KiB per request), REST ${fmt(rest)} spans/s`);
  }
  if (PROFILE) {
    // The profile is written as the server exits.
    await server.stop();
    server = undefined;
    logCpuProfile(profileDir, log);
  } else {
    const otlpMedian = median(rates.otlp);
    const restMedian = median(rates.rest);
    const otlpCpu = median(cpu.otlp);
    const restCpu = median(cpu.rest);
    log(`median: OTLP ${fmt(otlpMedian)} spans/s, MLflow REST ${fmt(restMedian)} spans/s, ratio ${fmt(otlpMedian / restMedian, 2)}`);
    log(`server CPU per span: OTLP ${fmt(otlpCpu)} µs, MLflow REST ${fmt(restCpu)} µs`);
    const goalLine = `Issue 16 goal, OTLP/HTTP protobuf in batches of ${PER_REQUEST * SPANS_PER_TRACE} spans: ≥ ${fmt(OTLP_GOAL)} spans/s: ${fmt(otlpMedian)}, ${otlpMedian >= OTLP_GOAL ? 'met' : '**not met**'} (at ${fmt(otlpCpu)} µs of server CPU per span, one core gives ${fmt(1e6 / otlpCpu)} spans/s).`;
    log(goalLine);

    if (!args['no-write']) {
      const stamp = new Date().toISOString().slice(0, 16).replace('T', ' ');
      const body = [
        `Last run: ${stamp} UTC · machine: ${machine} · command: \`npm run bench:otlp\``,
        '',
        `One \`threadline server\` on SQLite; per round ${N} fresh chat-turn traces (${N * SPANS_PER_TRACE} spans, ~1 KB of attributes each, from bench/ingest's workload) go through both paths: OTLP/HTTP protobuf, ${PER_REQUEST} traces (${PER_REQUEST * SPANS_PER_TRACE} spans) per \`POST /v1/traces\` with ${CONCURRENCY} requests in flight, and the MLflow REST flow (POST trace info + PUT traces.json per trace) with ${CONCURRENCY * PER_REQUEST} traces in flight. The OTLP copy has its own trace ids; user and session ride as \`user.id\`/\`session.id\` on the root span. Rounds alternate which path goes first.`,
        '',
        markdownTable(['path', 'median spans/s', 'median traces/s', 'server CPU µs/span'], [
          ['OTLP protobuf `POST /v1/traces`', fmt(otlpMedian), fmt(otlpMedian / SPANS_PER_TRACE), fmt(otlpCpu)],
          ['MLflow REST (POST + PUT)', fmt(restMedian), fmt(restMedian / SPANS_PER_TRACE), fmt(restCpu)],
          ['ratio OTLP / REST', fmt(otlpMedian / restMedian, 2), '', fmt(otlpCpu / restCpu, 2)],
        ], ['l', 'r', 'r', 'r']),
        '',
        goalLine,
        '',
        '<details><summary>rounds</summary>',
        '',
        markdownTable(['round', 'first', 'OTLP spans/s', 'REST spans/s', 'ratio'], rows, ['r', 'l', 'r', 'r', 'r']),
        '',
        '</details>',
      ].join('\n');
      log(`wrote ${writeBenchmarkSection('otlp', 'OTLP ingest (bench/otlp)', body)}`);
    }
  }
} catch (error) {
  process.stderr.write(`bench:otlp failed: ${error?.stack ?? error}\n`);
  if (server) process.stderr.write(`server stderr (tail):\n${server.stderr().slice(-4000)}\n`);
  process.exitCode = 1;
} finally {
  if (server) await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
