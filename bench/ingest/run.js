#!/usr/bin/env node
/**
 * bench/ingest: traces ingested per second over HTTP by a real `threadline server` on SQLite,
 * against raw better-sqlite3 inserts of the same rows into a database with the same schema and
 * pragmas, measured side by side in one run (DESIGN.md §8: the server should reach at least half
 * the raw rate). Rounds alternate server, raw (1 transaction per trace), raw (batched) on the same
 * trace sets, and medians are reported, because the machine is shared and noisy.
 *
 * Usage: npm run bench:ingest [-- --traces N --rounds R --concurrency C --profile --no-write]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { logCpuProfile } from '../lib/cpuprofile.js';
import { ownCpuMs, readWrittenChars } from '../lib/proc.js';
import { RssSampler, startServerProcess } from '../lib/server-process.js';
import { fmt, markdownTable, median, percentile } from '../lib/stats.js';
import { sendTraces } from './http-load.js';
import { LeanWriter } from './lean-store.js';
import { createSchema, RawWriter } from './raw-store.js';
import { rowsOf } from './rows.js';
import { differences, tableDigests } from './verify.js';
import { makeTraceSet, SESSIONS, USERS } from './workload.js';
import { positiveOption, log } from '../lib/cli.js';

const GOAL = 0.5;
// Issue 16's goals.
const RATE_GOAL = 2_000;
const LEAN_GOAL = 0.5;
const CPU_GOAL_US = 400;
const KIB_GOAL = 40;
/** The bare HTTP server measured beside the tracking server. */
const FLOOR_SCRIPT = fileURLToPath(new URL('./http-floor.js', import.meta.url));
const SPANS_PER_TRACE = 5;

const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: process.env.BENCH_INGEST_TRACES ?? '1000' },
    rounds: { type: 'string', default: process.env.BENCH_INGEST_ROUNDS ?? '8' },
    concurrency: { type: 'string', default: process.env.BENCH_INGEST_CONCURRENCY ?? '32' },
    warmup: { type: 'string', default: process.env.BENCH_INGEST_WARMUP ?? '500' },
    'batch-size': { type: 'string', default: '100' },
    seed: { type: 'string', default: '20260115' },
    'node-arg': { type: 'string', multiple: true, default: [] },
    profile: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stdout.write(`npm run bench:ingest [-- options]

  --traces N       traces per round and target (env BENCH_INGEST_TRACES, default 1000)
  --rounds R       rounds; each runs server, raw 1-tx-per-trace, raw batched (env BENCH_INGEST_ROUNDS, default 8)
  --concurrency C  traces in flight against the server (env BENCH_INGEST_CONCURRENCY, default 32)
  --warmup W       traces sent to each target first, not counted (env BENCH_INGEST_WARMUP, default 500)
  --batch-size B   traces per transaction of the batched baseline (default 100)
  --seed S         workload seed (default 20260115)
  --node-arg ARG   pass ARG to the server's node (repeatable), e.g. --node-arg=--max-old-space-size=64
  --profile        run the server under node --cpu-prof and print where its time goes
                   (numbers are then distorted: BENCHMARKS.md is not written)
  --no-write       do not update BENCHMARKS.md
  --keep           keep the temporary databases and profile
`);
  process.exit(0);
}

const positive = (name) => positiveOption(args, name);
const N = positive('traces');
const ROUNDS = positive('rounds');
const CONCURRENCY = positive('concurrency');
const WARMUP = Number(args.warmup) >= 0 ? Number(args.warmup) : 0;
const BATCH = positive('batch-size');
const SEED = Number(args.seed) || 1;
const writeResults = !args['no-write'] && !args.profile;

const mib = (kib) => `${fmt(kib / 1024, 1)} MiB`;
const kib = (bytes) => fmt(bytes / 1024, 1);

const dir = mkdtempSync(join(tmpdir(), 'threadline-bench-ingest-'));
const paths = { server: join(dir, 'server.db'), each: join(dir, 'raw-each.db'), batch: join(dir, 'raw-batch.db'), lean: join(dir, 'lean.db'), profile: join(dir, 'profile') };

let server;
let floor;
try {
  await main();
} catch (error) {
  process.stderr.write(`bench:ingest failed: ${error?.stack ?? error}\n`);
  if (server) process.stderr.write(`server stderr (tail):\n${server.stderr().slice(-4000)}\n`);
  process.exitCode = 1;
} finally {
  if (server) await server.stop();
  if (floor) await floor.stop();
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
}

async function main() {
  const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${osType()} ${release()}, Node ${process.version}`;
  log(`bench:ingest  ${N} traces x ${ROUNDS} rounds (+${WARMUP} warm-up), ${SPANS_PER_TRACE} spans each, concurrency ${CONCURRENCY}, batch ${BATCH}`);
  log(`machine: ${machine}`);
  log(`databases in ${dir}`);

  await createSchema(paths.each);
  await createSchema(paths.batch);
  const each = new RawWriter(paths.each);
  const batched = new RawWriter(paths.batch);
  const lean = new LeanWriter(paths.lean);

  const nodeArgs = [...args['node-arg'], ...(args.profile ? ['--cpu-prof', `--cpu-prof-dir=${paths.profile}`] : [])];
  server = await startServerProcess({ dbPath: paths.server, nodeArgs });
  floor = await startServerProcess({ script: FLOOR_SCRIPT });
  const rss = new RssSampler(server.pid);
  const rssStart = rss.sample();
  log(`server pid ${server.pid} at ${server.url}, RSS ${mib(rssStart)}`);

  /**
   * One set of traces, sent to all three targets (the server over HTTP, then raw 1-tx-per-trace,
   * then raw batched; or the raw ones first when `rawFirst`, so that drift over the run does not
   * favour one side).
   */
  const runSet = async (label, traces, rawFirst = false) => {
    const n = traces.length;
    const rows = traces.map(rowsOf);

    /** Sends the set to an HTTP target (the server, the HTTP floor): rate and CPU per trace on both sides. */
    const measureHttp = async (target) => {
      const cpu0 = target.cpuMs();
      const clientCpu0 = ownCpuMs();
      const load = await sendTraces(target.url, traces, CONCURRENCY);
      return {
        load,
        rate: (n * 1000) / load.elapsedMs,
        cpuUsPerTrace: ((target.cpuMs() - cpu0) * 1000) / n,
        clientCpuUsPerTrace: ((ownCpuMs() - clientCpu0) * 1000) / n,
      };
    };
    const measureServer = async () => {
      rss.mark(label);
      const written0 = server.writtenChars();
      const { load, ...measured } = await measureHttp(server);
      // What the server wrote besides its HTTP responses: its database and WAL files.
      const dbBytes = server.writtenChars() - written0 - load.responseBytes;
      rss.mark(`${label}, server idle`);
      return { ...measured, bytesPerTrace: dbBytes / n, postMs: load.postMs, putMs: load.putMs };
    };
    /** Times one raw write of the set: rate, CPU and bytes written per trace. */
    const measureRaw = (write) => {
      const cpu0 = ownCpuMs();
      const written0 = readWrittenChars('self');
      const t0 = performance.now();
      write();
      const ms = performance.now() - t0;
      return { rate: (n * 1000) / ms, cpuUsPerTrace: ((ownCpuMs() - cpu0) * 1000) / n, bytesPerTrace: (readWrittenChars('self') - written0) / n };
    };
    const measureBoth = () => ({
      each: measureRaw(() => each.writeEach(rows)),
      batch: measureRaw(() => batched.writeBatched(rows, BATCH)),
      lean: measureRaw(() => lean.writeEach(rows)),
    });

    let raw;
    if (rawFirst) raw = measureBoth();
    const serverResult = await measureServer();
    const rssAfter = rss.sample();
    // The same HTTP exchange with the HTTP floor (http-floor.js): nothing stored.
    const { load: _floorLoad, ...http } = await measureHttp(floor);
    if (!rawFirst) raw = measureBoth();
    return { label, server: serverResult, http, ...raw, postMs: serverResult.postMs, putMs: serverResult.putMs, rssAfter };
  };

  let sizes;
  if (WARMUP > 0) {
    const warm = makeTraceSet(WARMUP, SEED, 0);
    sizes = sizesOf(warm);
    const r = await runSet('warm-up', warm);
    log(`warm-up   server ${fmt(r.server.rate)} traces/s   raw ${fmt(r.each.rate)}   batched ${fmt(r.batch.rate)}   RSS ${mib(r.rssAfter)}`);
  }
  const rssAfterWarmup = rss.sample();

  const rounds = [];
  for (let r = 1; r <= ROUNDS; r++) {
    const traces = makeTraceSet(N, SEED + r, r);
    sizes ??= sizesOf(traces);
    const result = await runSet(`round ${r}`, traces, r % 2 === 0);
    rounds.push(result);
    log(
      `round ${r}/${ROUNDS}  server ${fmt(result.server.rate)} traces/s   raw ${fmt(result.each.rate)}   batched ${fmt(result.batch.rate)}` +
        `   ratio ${fmt(result.server.rate / result.each.rate, 3)}   RSS ${mib(result.rssAfter)}`,
    );
  }
  rss.mark('end');
  const rssEnd = rss.sample();
  const rssPeak = rss.peak();
  rss.stop();
  each.close();
  batched.close();
  lean.close();
  await server.stop();
  await floor.stop();

  // Same rows in all three databases, or the comparison means nothing.
  const digests = { server: tableDigests(paths.server), each: tableDigests(paths.each), batch: tableDigests(paths.batch) };
  const mismatches = [...differences(digests.server, digests.each), ...differences(digests.server, digests.batch)];
  const expectedTraces = WARMUP + N * ROUNDS;
  if (digests.server.traces.rows !== expectedTraces || digests.server.spans.rows !== expectedTraces * SPANS_PER_TRACE) {
    mismatches.push({ table: 'traces/spans count', a: digests.server.traces, b: { rows: expectedTraces } });
  }
  const verified = mismatches.length === 0;

  const med = (pick) => median(rounds.map(pick));
  const range = (pick) => `${fmt(Math.min(...rounds.map(pick)))}–${fmt(Math.max(...rounds.map(pick)))}`;
  const serverRate = med((r) => r.server.rate);
  const eachRate = med((r) => r.each.rate);
  const batchRate = med((r) => r.batch.rate);
  const leanRate = med((r) => r.lean.rate);
  const ratio = serverRate / eachRate;
  const pairedRatio = med((r) => r.server.rate / r.each.rate);

  const throughput = markdownTable(
    ['target', 'traces/s (median)', 'spans/s', `range over ${ROUNDS} rounds`, 'CPU µs/trace', 'DB KiB written/trace'],
    [
      [
        `threadline server, HTTP, ${CONCURRENCY} in flight`,
        fmt(serverRate),
        fmt(serverRate * SPANS_PER_TRACE),
        range((r) => r.server.rate),
        `${fmt(med((r) => r.server.cpuUsPerTrace))} server + ${fmt(med((r) => r.server.clientCpuUsPerTrace))} client`,
        kib(med((r) => r.server.bytesPerTrace)),
      ],
      ['raw SQLite, 1 transaction per trace', fmt(eachRate), fmt(eachRate * SPANS_PER_TRACE), range((r) => r.each.rate), fmt(med((r) => r.each.cpuUsPerTrace)), kib(med((r) => r.each.bytesPerTrace))],
      [`raw SQLite, ${BATCH} traces per transaction`, fmt(batchRate), fmt(batchRate * SPANS_PER_TRACE), range((r) => r.batch.rate), fmt(med((r) => r.batch.cpuUsPerTrace)), kib(med((r) => r.batch.bytesPerTrace))],
      ['lean floor, 1 transaction per trace', fmt(leanRate), fmt(leanRate * SPANS_PER_TRACE), range((r) => r.lean.rate), fmt(med((r) => r.lean.cpuUsPerTrace)), kib(med((r) => r.lean.bytesPerTrace))],
      [
        `HTTP floor: bare node:http, JSON parsed, nothing stored, ${CONCURRENCY} in flight`,
        fmt(med((r) => r.http.rate)),
        fmt(med((r) => r.http.rate) * SPANS_PER_TRACE),
        range((r) => r.http.rate),
        `${fmt(med((r) => r.http.cpuUsPerTrace))} server + ${fmt(med((r) => r.http.clientCpuUsPerTrace))} client`,
        '–',
      ],
    ],
    ['l', 'r', 'r', 'r', 'r', 'r'],
  );
  const all = (pick) => Float64Array.from(rounds.flatMap((r) => Array.from(pick(r))));
  const posts = all((r) => r.postMs);
  const puts = all((r) => r.putMs);
  const both = all((r) => r.postMs.map((p, i) => p + r.putMs[i]));
  const latency = markdownTable(
    ['call', 'p50 ms', 'p99 ms', 'max ms'],
    [
      ['POST /api/3.0/mlflow/traces', fmt(percentile(posts, 50), 2), fmt(percentile(posts, 99), 2), fmt(percentile(posts, 100), 2)],
      ['PUT …/traces.json (5 spans)', fmt(percentile(puts, 50), 2), fmt(percentile(puts, 99), 2), fmt(percentile(puts, 100), 2)],
      ['whole trace (POST + PUT)', fmt(percentile(both, 50), 2), fmt(percentile(both, 99), 2), fmt(percentile(both, 100), 2)],
    ],
    ['l', 'r', 'r', 'r'],
  );
  const perRound = markdownTable(
    ['round', 'server traces/s', 'raw 1 tx/trace', `raw ${BATCH}/tx`, 'lean floor', 'ratio', 'server RSS after'],
    rounds.map((r) => [r.label, fmt(r.server.rate), fmt(r.each.rate), fmt(r.batch.rate), fmt(r.lean.rate), fmt(r.server.rate / r.each.rate, 3), mib(r.rssAfter)]),
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
  const verdict = ratio >= GOAL ? 'met' : 'NOT met';
  const columns =
    'CPU µs/trace: CPU time (user + system) per trace of the server process, of this process as its HTTP client, and of this process writing raw. ' +
    'DB KiB written/trace: bytes passed to write(2) for the database and its WAL (for the server: all it wrote minus the HTTP responses), a measure of pages dirtied per commit. ' +
    'HTTP floor (bench/ingest/http-floor.js): a server of a few lines on node:http that parses each body as JSON and answers as the tracking server does, storing nothing: what the two HTTP calls per trace cost any Node server on this machine.';
  const ratioLine = `**server / raw (1 transaction per trace) = ${fmt(ratio, 3)}** (goal ≥ ${GOAL}: ${verdict}; median of per-round ratios ${fmt(pairedRatio, 3)}; server / raw batched = ${fmt(serverRate / batchRate, 3)})`;
  const serverCpu = med((r) => r.server.cpuUsPerTrace);
  const floorCpu = med((r) => r.http.cpuUsPerTrace);
  const serverKib = med((r) => r.server.bytesPerTrace) / 1024;
  const goal = (met) => (met ? 'met' : '**not met**');
  const goalsTable = markdownTable(
    ['issue 16 goal', 'measured', 'goal', ''],
    [
      ['traces/s, MLflow REST flow', fmt(serverRate), `≥ ${fmt(RATE_GOAL)}`, goal(serverRate >= RATE_GOAL)],
      ['server / lean floor', fmt(serverRate / leanRate, 3), `≥ ${LEAN_GOAL}`, goal(serverRate / leanRate >= LEAN_GOAL)],
      ['server CPU µs per trace', fmt(serverCpu), `≤ ${CPU_GOAL_US}`, goal(serverCpu <= CPU_GOAL_US)],
      ['… beyond the HTTP floor (what HTTP and JSON alone cost)', fmt(serverCpu - floorCpu), `≤ ${fmt(Math.max(0, CPU_GOAL_US - floorCpu))} (the goal less the floor's ${fmt(floorCpu)})`, goal(serverCpu <= CPU_GOAL_US)],
      ['KiB written to database and WAL per trace', fmt(serverKib, 1), `≤ ${KIB_GOAL}`, goal(serverKib <= KIB_GOAL)],
    ],
    ['l', 'r', 'r', 'l'],
  );
  const rssLine =
    `Server RSS: ${mib(rssStart)} at start, ${mib(rssAfterWarmup)} after warm-up, peak ${mib(rssPeak.rssKib)} (${rssPeak.phase}), ` +
    `${mib(rssEnd)} at the end; growth over the counted rounds ${mib(rssEnd - rssAfterWarmup)} for ${fmt(N * ROUNDS)} traces (sampled every 200 ms from /proc/<pid>/status VmRSS).`;
  const verifyLine = verified
    ? `Checked: the server's database and both raw databases hold identical rows (${fmt(digests.server.traces.rows)} traces, ${fmt(digests.server.spans.rows)} spans, ${fmt(digests.server.trace_metadata.rows)} metadata, ${fmt(digests.server.trace_tags.rows)} tags, ${fmt(digests.server.sessions.rows)} sessions, ${fmt(digests.server.users.rows)} users, ${fmt(digests.server.trace_hours.rows)} trace_hours rows, ${fmt(digests.server.llm_calls.rows)} llm_calls rows, ${fmt(digests.server.model_hours.rows)} model_hours rows; per-table SHA-256 of all rows).`
    : `**Row check FAILED**: ${mismatches.map((m) => `${m.table} ${JSON.stringify(m.a)} vs ${JSON.stringify(m.b)}`).join('; ')}`;
  const workload =
    `${fmt(N)} traces per round × ${ROUNDS} rounds (+ ${fmt(WARMUP)} warm-up, not counted), ${SPANS_PER_TRACE} spans each ` +
    `(CHAIN root; RETRIEVER, LLM with token usage, TOOL, PARSER), ${fmt(sizes.attributeBytesPerSpan)} B of attributes per span on average; ` +
    `request bodies ${fmt(sizes.post)} B (POST) + ${fmt(sizes.put)} B (PUT); ${USERS} users, ${SESSIONS} sessions; the TypeScript SDK's two calls per trace.`;

  log();
  log(throughput);
  log();
  log(columns);
  log();
  log(ratioLine);
  log();
  log(goalsTable);
  log();
  log(latency);
  log();
  log(perRound);
  log();
  log(rssLine);
  log(verifyLine);

  if (args.profile) logCpuProfile(paths.profile, log);

  const date = new Date().toISOString().replace('T', ' ').slice(0, 16);
  const command = `npm run bench:ingest${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  if (writeResults) {
    const body = [
      `Last run: ${date} UTC · machine: ${machine} · command: \`${command}\``,
      '',
      `Workload: ${workload} Each round sends one trace set to the server and writes it raw (1 tx per trace, then batched), the raw ones first in even rounds; medians over rounds.`,
      `The lean floor (bench/ingest/lean-store.js) writes the same content once: a trace row with its user and session, its metadata, one row per span, with only the indexes the seed's questions need.`,
      `The raw baseline writes exactly the server's rows (trace, metadata, tags, 5 spans with the same content JSON, the LLM call priced with the server's price book, sessions, users, trace_hours and model_hours rollup upserts) with prepared better-sqlite3 statements, on the server's schema and pragmas (WAL, synchronous=NORMAL).`,
      '',
      throughput,
      '',
      columns,
      '',
      ratioLine,
      '',
      goalsTable,
      '',
      latency,
      '',
      perRound,
      '',
      rssLine,
      '',
      verifyLine,
    ].join('\n');
    log(`\nwrote ${writeBenchmarkSection('ingest', 'Ingest over HTTP (bench/ingest)', body)}`);
  }
  if (!verified) throw new Error('the three databases do not hold the same rows; see above');
}

function sizesOf(traces) {
  const avg = (f) => traces.reduce((n, t) => n + f(t), 0) / traces.length;
  return { post: avg((t) => t.post.length), put: avg((t) => t.put.length), attributeBytesPerSpan: avg((t) => t.attributeBytes) / SPANS_PER_TRACE };
}
