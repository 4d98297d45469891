#!/usr/bin/env node
/**
 * bench/sdk: what tracing costs the application per call (DESIGN.md §8: within 1.5x of a bare
 * OpenTelemetry span tree). One traced call = a nested trace of 5 spans (sync functions, each
 * adding 1 to its argument), measured in process, with no network:
 *
 *   untraced              the same 5 nested functions, no tracing
 *   bare OpenTelemetry    5 nested tracer.startActiveSpan() on a BasicTracerProvider with a
 *                         NoopSpanProcessor (the same AsyncLocalStorage context manager)
 *   threadline, no-op sink        trace() x 5; finished traces are discarded by the processor
 *   threadline, queue + discard   trace() x 5 through the real export queue to an exporter that
 *                                 discards them
 *   threadline, queue + JSON      same, the exporter also builds each trace's JSON (trace info and
 *                                 spans) as the REST exporter would, then discards it
 *
 * Rounds interleave the variants (rotated order), each round ends with flushTraces() inside the
 * timing, so background export work done on the same thread is counted; medians over rounds.
 * Usage: npm run bench:sdk [-- --calls 20000 --rounds 11 --no-write]
 */
import { cpus, totalmem, type as osType, release } from 'node:os';
import { performance } from 'node:perf_hooks';
import { BasicTracerProvider, NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { flushTraces, getSpanProcessor, init, InMemoryTraceExporter, silentLogger, trace, TraceExportQueue } from '../../packages/tracing/dist/index.js';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { fmt, markdownTable, median } from '../lib/stats.js';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const CALLS = option('calls', 20_000);
const ROUNDS = option('rounds', 11);
const WRITE = !args.includes('--no-write');
const YIELD_EVERY = option('yield-every', 50);

// --- the five variants ----------------------------------------------------------------------

const untraced = (() => {
  const e = (x) => x + 1;
  const d = (x) => e(x) + 1;
  const c = (x) => d(x) + 1;
  const b = (x) => c(x) + 1;
  return (x) => b(x) + 1;
})();

const bareProvider = new BasicTracerProvider({ spanProcessors: [new NoopSpanProcessor()] });
const bareTracer = bareProvider.getTracer('bare');
const bareLevel = (name, next) => (x) =>
  bareTracer.startActiveSpan(name, (span) => {
    try {
      return (next === undefined ? x : next(x)) + 1;
    } finally {
      span.end();
    }
  });
const bare = bareLevel('a', bareLevel('b', bareLevel('c', bareLevel('d', bareLevel('e')))));

// init() registers the AsyncLocalStorage context manager both trees use.
init({ exporter: new InMemoryTraceExporter({ discard: true }), logger: silentLogger });
const traced = (() => {
  const e = trace((x) => x + 1, { name: 'e' });
  const d = trace((x) => e(x) + 1, { name: 'd' });
  const c = trace((x) => d(x) + 1, { name: 'c' });
  const b = trace((x) => c(x) + 1, { name: 'b' });
  return trace((x) => b(x) + 1, { name: 'a' });
})();

const serializingSink = new InMemoryTraceExporter({ discard: true, serialize: true });

// The SDK's defaults (batch 64, 200 ms), with room for every trace of a round.
const queueOptions = { maxQueueSize: 100_000, maxExportBatchSize: option('batch', 64), scheduledDelayMillis: option('delay', 200) };
const variants = [
  { key: 'untraced', label: 'untraced (5 nested calls)', setup() {}, call: untraced },
  { key: 'bare', label: 'bare OpenTelemetry (5 spans, no-op processor)', setup() {}, call: bare },
  { key: 'noop', label: 'threadline, no-op sink', setup: () => getSpanProcessor().setExportQueue(undefined), call: traced },
  {
    key: 'queue',
    label: 'threadline, queue + discarding exporter',
    setup: () => getSpanProcessor().setExportQueue(new TraceExportQueue(new InMemoryTraceExporter({ discard: true }), queueOptions)),
    call: traced,
  },
  {
    key: 'json',
    label: 'threadline, queue + exporter building the JSON',
    setup: () => getSpanProcessor().setExportQueue(new TraceExportQueue(serializingSink, queueOptions)),
    call: traced,
  },
];

async function runRound(variant) {
  variant.setup();
  let sink = 0;
  const start = performance.now();
  for (let i = 0; i < CALLS; i++) {
    sink += variant.call(i);
    // Yield to the event loop now and then, as a server between requests does: timers (the export
    // queue's) run, and nothing is retained longer than it would be in an application.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  await flushTraces({ timeoutMillis: 60_000 });
  const elapsed = performance.now() - start;
  if (sink === 0) throw new Error('calls were optimised away');
  return (elapsed * 1000) / CALLS; // µs per call
}

const results = Object.fromEntries(variants.map((v) => [v.key, []]));
// Warm-up: JIT every path once.
for (const variant of variants) await runRound(variant);
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < variants.length; k++) {
    const variant = variants[(round + k) % variants.length];
    results[variant.key].push(await runRound(variant));
  }
  process.stderr.write(`round ${round + 1}/${ROUNDS}\n`);
}
if (serializingSink.exportedCount === 0) throw new Error('the serializing sink saw no traces');

const med = Object.fromEntries(variants.map((v) => [v.key, median(results[v.key])]));
const range = (key) => `${fmt(Math.min(...results[key]), 2)}–${fmt(Math.max(...results[key]), 2)}`;
const overBare = (key) => med[key] / med.bare;
const rows = variants.map((v) => [
  v.label,
  fmt(med[v.key], 2),
  fmt(med[v.key] / 5, 2),
  range(v.key),
  v.key === 'untraced' ? '–' : fmt(med[v.key] - med.untraced, 2),
  v.key === 'untraced' ? '–' : `${fmt(overBare(v.key), 2)}x`,
]);
const table = markdownTable(['variant', 'µs per traced call (median)', 'µs per span', `range over ${ROUNDS} rounds`, 'µs over untraced', 'vs bare OTel'], rows, ['l', 'r', 'r', 'r', 'r', 'r']);
// The goal is about the application's call path (no-op sink, queue + discarding exporter); the
// JSON variant adds the export work bare OpenTelemetry with a no-op processor never does.
const worst = Math.max(overBare('noop'), overBare('queue'));
const verdict = [
  `**threadline / bare OpenTelemetry = ${fmt(overBare('noop'), 2)}x (no-op sink), ${fmt(overBare('queue'), 2)}x (queue + discarding exporter)** (goal ≤ 1.5x: ${worst <= 1.5 ? 'met' : 'NOT met'}).`,
  `With the exporter building each trace's request bodies on the same thread (work a no-op processor never does): ${fmt(overBare('json'), 2)}x, i.e. ${fmt(med.json - med.queue, 1)} µs of JSON per 5-span trace, spent off the call path on the queue's timer.`,
].join('\n');
const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${osType()} ${release()}, Node ${process.version}`;
const body = [
  `Last run: ${date} UTC · machine: ${machine} · command: \`npm run bench:sdk\``,
  '',
  `Workload: ${fmt(CALLS)} calls per round × ${ROUNDS} rounds (+1 warm-up), each call a nested trace of 5 spans (sync functions; Threadline records each span's inputs, outputs, type and status). Variants interleaved in rotated order; each round's time includes flushTraces(), so export work done in the background on the same thread is counted. Medians over rounds.`,
  '',
  table,
  '',
  verdict,
].join('\n');
console.log(`\n${body}\n`);
if (WRITE) console.log(`wrote ${writeBenchmarkSection('sdk', 'SDK overhead per traced call (bench/sdk)', body)}`);
