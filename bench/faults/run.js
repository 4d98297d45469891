#!/usr/bin/env node
/**
 * bench/faults: database faults under load. Two `threadline server` replicas share one
 * PostgreSQL schema; clients log traces through both (the MLflow REST flow with its create and
 * upload on different replicas, and OTLP batches) while this script terminates every backend
 * of those replicas again and again (`pg_terminate_backend`, what a failover or restart does to
 * them). A client does what the SDKs do with a 503: waits and sends the request again.
 *
 * Reported: traces acknowledged (every call answered 200), stored and lost; how failures were
 * answered (all should be 503 with Retry-After); whether any replica exited. The goal is
 * 0 lost, 0 exits, 0 other answers. Exits 1 when it is missed, so `npm test` runs it at a small
 * size as the fault test (bench/test/faults.test.ts).
 *
 * Only this run's own connections are terminated: the replicas connect with an
 * application_name of their own, and only backends with that name are ended.
 *
 * Usage: npm run bench:faults [-- --traces N --concurrency C --kill-every-ms M --min-kill-rounds K --postgres URL --json --no-write]
 *
 * `--min-kill-rounds K` paces the load so that it lasts at least K of the longest intervals
 * between kills: on a fast machine a small load would otherwise be over before the faults began.
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { createBenchSchema } from '../lib/postgres-schema.js';
import { log, positiveOption } from '../lib/cli.js';
import { startServerProcess } from '../lib/server-process.js';
import { markdownTable } from '../lib/stats.js';
import { otlpRequestsOf, otlpTraceHex } from '../otlp/otlp-payloads.js';
import { makeTraceSet } from '../ingest/workload.js';

const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '16' },
    'kill-every-ms': { type: 'string', default: '200' },
    'min-kill-rounds': { type: 'string', default: '0' },
    'otlp-share': { type: 'string', default: '0.5' },
    'max-retry-wait-ms': { type: 'string', default: '250' },
    postgres: { type: 'string', default: process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test' },
    seed: { type: 'string', default: '20261205' },
    json: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  log('Usage: npm run bench:faults [-- --traces 2000 --concurrency 16 --kill-every-ms 200 --min-kill-rounds 0 --otlp-share 0.5 --postgres URL --json --no-write]');
  process.exit(0);
}

const traceCount = positiveOption(args, 'traces');
const concurrency = positiveOption(args, 'concurrency');
const killEveryMs = positiveOption(args, 'kill-every-ms');
const minKillRounds = Number(args['min-kill-rounds']) || 0;
/** A kill comes 0.5 to 1.5 intervals after the last. */
const MAX_KILL_JITTER = 1;
const maxRetryWaitMs = positiveOption(args, 'max-retry-wait-ms');
const otlpShare = Math.min(1, Math.max(0, Number(args['otlp-share'])));
const TRACES_PER_OTLP_REQUEST = 10;
/** A request is given up after this many 503s in a row: more than any outage here lasts. */
const MAX_ATTEMPTS = 200;

const { schema, applicationName, storeUri, admin, drop } = await createBenchSchema(args.postgres, 'bench_faults');

const replicas = [];
let stopping = false;
const outcome = {
  traces: traceCount,
  acknowledged: 0,
  stored: 0,
  lost: 0,
  notAcknowledged: 0,
  killRounds: 0,
  backendsTerminated: 0,
  answers503: 0,
  answers503WithoutRetryAfter: 0,
  otherFailures: /** @type {string[]} */ ([]),
  replicaExits: /** @type {string[]} */ ([]),
  readyAfter: /** @type {boolean[]} */ ([]),
  elapsedMs: 0,
};

try {
  for (let i = 0; i < 2; i++) replicas.push(await startServerProcess({ backendStoreUri: storeUri }));
  for (const [i, replica] of replicas.entries()) {
    void replica.exited.then((code) => stopping || outcome.replicaExits.push(`replica ${i} exited (${code}): ${replica.stderr().slice(-2000)}`));
  }

  const traces = makeTraceSet(traceCount, Number(args.seed), 0);
  const otlpCount = Math.round(traces.length * otlpShare);
  const spanCount = (trace) => JSON.parse(trace.put.toString('utf8')).spans.length;
  const otlpRequests = otlpRequestsOf(traces.slice(0, otlpCount), TRACES_PER_OTLP_REQUEST).map((request, i) => ({
    ...request,
    traces: traces.slice(i * TRACES_PER_OTLP_REQUEST, Math.min((i + 1) * TRACES_PER_OTLP_REQUEST, otlpCount)).map((t) => ({ traceId: `tr-${otlpTraceHex(t.traceId)}`, spans: spanCount(t) })),
  }));
  const restTraces = traces.slice(otlpCount);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency * 2 });
  /** Trace ids acknowledged, with the number of spans each was sent with. */
  const acknowledged = new Map();

  /** Sends one request until it is answered with something other than 503; answers that. */
  const sendWithRetries = async (replica, method, path, body, contentType) => {
    for (let attempt = 1; ; attempt++) {
      let reply;
      try {
        reply = await send(agent, replicas[replica].url, method, path, body, contentType);
      } catch (error) {
        // The server must answer even while its database is gone; a dropped connection is a failure.
        return { status: 0, body: String(error) };
      }
      if (reply.status !== 503 || attempt >= MAX_ATTEMPTS) return reply;
      outcome.answers503++;
      const retryAfter = Number(reply.retryAfter);
      if (!(retryAfter >= 0)) outcome.answers503WithoutRetryAfter++;
      // Honour Retry-After in shape, capped so a test run stays short.
      await sleep(Math.min((retryAfter || 1) * 1000, maxRetryWaitMs) * (0.5 + Math.random() / 2));
    }
  };

  const restJobs = restTraces.map((trace, i) => async () => {
      const created = await sendWithRetries(i % 2, 'POST', '/api/3.0/mlflow/traces', trace.post, 'application/json');
      if (created.status !== 200) return void outcome.otherFailures.push(`create ${trace.traceId}: ${created.status} ${created.body.slice(0, 300)}`);
      const uploaded = await sendWithRetries((i + 1) % 2, 'PUT', trace.putPath, trace.put, 'application/json');
      if (uploaded.status !== 200) return void outcome.otherFailures.push(`upload ${trace.traceId}: ${uploaded.status} ${uploaded.body.slice(0, 300)}`);
      acknowledged.set(trace.traceId, spanCount(trace));
    });
  const otlpJobs = otlpRequests.map((request, i) => async () => {
      const reply = await sendWithRetries(i % 2, 'POST', '/v1/traces', request.body, 'application/x-protobuf');
      if (reply.status !== 200) return void outcome.otherFailures.push(`OTLP request ${i}: ${reply.status} ${reply.body.slice(0, 300)}`);
      for (const { traceId, spans } of request.traces) acknowledged.set(traceId, spans);
    });
  // Interleaved, so that REST and OTLP work are both in flight during every kill.
  const jobs = [];
  const restPerOtlp = otlpJobs.length === 0 ? restJobs.length : Math.ceil(restJobs.length / otlpJobs.length);
  for (let r = 0, o = 0; r < restJobs.length || o < otlpJobs.length; ) {
    if (o < otlpJobs.length) jobs.push(otlpJobs[o++]);
    for (let k = 0; k < restPerOtlp && r < restJobs.length; k++) jobs.push(restJobs[r++]);
  }

  let loadDone = false;
  const killer = (async () => {
    while (!loadDone) {
      await sleep(killEveryMs * (0.5 + MAX_KILL_JITTER * Math.random()));
      if (loadDone) break;
      const { rows } = await admin.query('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()', [applicationName]);
      outcome.killRounds++;
      outcome.backendsTerminated += rows[0].n;
    }
  })();

  const started = performance.now();
  // Job i starts no earlier than its share of the shortest load that spans minKillRounds kills.
  const minLoadMs = minKillRounds * killEveryMs * (0.5 + MAX_KILL_JITTER);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < jobs.length) {
        const i = next++;
        const early = started + (i * minLoadMs) / jobs.length - performance.now();
        if (early > 0) await sleep(early);
        await jobs[i]();
      }
    }),
  );
  outcome.elapsedMs = performance.now() - started;
  loadDone = true;
  await killer;

  // Stored: what the database holds now, read apart from the servers.
  const { rows } = await admin.query(`SELECT trace_id, span_count FROM ${schema}.traces`);
  const stored = new Map(rows.map((r) => [r.trace_id, Number(r.span_count)]));
  outcome.acknowledged = acknowledged.size;
  outcome.notAcknowledged = traceCount - acknowledged.size;
  for (const [traceId, spans] of acknowledged) {
    if (stored.get(traceId) === spans) outcome.stored++;
    else outcome.lost++;
  }
  for (const replica of replicas) {
    const reply = await send(agent, replica.url, 'GET', '/health/ready').catch(() => ({ status: 0 }));
    outcome.readyAfter.push(reply.status === 200);
  }
  agent.destroy();
} finally {
  stopping = true;
  await Promise.all(replicas.map((r) => r.stop()));
  await drop();
}

const passed = outcome.lost === 0 && outcome.replicaExits.length === 0 && outcome.otherFailures.length === 0 && outcome.answers503WithoutRetryAfter === 0 && outcome.readyAfter.every(Boolean);
if (args.json) {
  log(JSON.stringify({ ...outcome, passed }));
} else {
  const table = markdownTable(
    ['traces sent', 'acknowledged', 'stored', 'lost', 'kill rounds', 'backends terminated', '503 answers (all with Retry-After)', 'other failures', 'replica exits', 'seconds'],
    [[
      outcome.traces,
      outcome.acknowledged,
      outcome.stored,
      outcome.lost,
      outcome.killRounds,
      outcome.backendsTerminated,
      `${outcome.answers503}${outcome.answers503WithoutRetryAfter > 0 ? ` (${outcome.answers503WithoutRetryAfter} without)` : ''}`,
      outcome.otherFailures.length,
      outcome.replicaExits.length,
      (outcome.elapsedMs / 1000).toFixed(1),
    ]],
  );
  const body = [
    `Two replicas on one PostgreSQL schema, ${concurrency} clients, ${Math.round(otlpShare * 100)}% of traces over OTLP (${TRACES_PER_OTLP_REQUEST} per request), the rest over the MLflow REST flow with create and upload on different replicas; every backend of the replicas terminated every ~${killEveryMs} ms. Clients retry a 503 after its Retry-After (capped at ${maxRetryWaitMs} ms here).`,
    '',
    table,
    '',
    passed ? 'Result: every acknowledged trace stored, no replica exited, every failure a 503 with Retry-After.' : 'Result: FAILED (see above).',
  ].join('\n');
  log(body);
  for (const line of [...outcome.otherFailures.slice(0, 10), ...outcome.replicaExits]) log(`  ${line}`);
  if (!args['no-write']) writeBenchmarkSection('faults', 'Database faults under load (bench:faults)', body);
}
process.exit(passed ? 0 : 1);

/** One request; resolves with status, body text and Retry-After, whatever the status. */
function send(agent, url, method, path, body, contentType) {
  const base = new URL(url);
  return new Promise((resolve, reject) => {
    const headers = body ? { 'content-type': contentType, 'content-length': body.length } : {};
    const req = http.request({ agent, host: base.hostname, port: base.port, method, path, headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers['retry-after'] }));
      res.on('error', reject);
    });
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}
