#!/usr/bin/env node
/**
 * bench/search: the seed's read queries at scale (a user's newest traces, one session's traces,
 * the sessions list, the users list, a tag LIKE) through Threadline's real search code, each beside
 * the same query written by hand in SQL on the same SQLite database, as p50/p99 and their ratios
 * (goal: Threadline within 2x of hand-written SQL). Iterations interleave the two sides and the
 * queries, alternating which side goes first, because the machine is shared and noisy.
 *
 * Usage: npm run bench:search [-- --traces 100000 --iterations 300 --rebuild --no-write]
 */
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openSqliteStore } from '../../packages/server/dist/index.js';
import { openRaw } from '../ingest/raw-store.js';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { fmt, markdownTable, median, percentile } from '../lib/stats.js';
import { ensureDatabase, ABC_SHARE } from './dataset.js';
import { searchQueries } from './queries.js';

const GOAL = 2;

const { values: args } = parseArgs({
  options: {
    traces: { type: 'string', default: '1000000' },
    users: { type: 'string' },
    sessions: { type: 'string' },
    iterations: { type: 'string', default: '300' },
    warmup: { type: 'string', default: '30' },
    'cache-dir': { type: 'string', default: process.env.THREADLINE_BENCH_CACHE ?? join(tmpdir(), 'threadline-bench-cache') },
    rebuild: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(`npm run bench:search [-- options]
  --traces N       traces to load (default 1,000,000); users N/100 and sessions N/10 unless given
  --users U        --sessions S
  --iterations I   measured runs of each query on each side (default 300), after --warmup W (default 30)
  --cache-dir DIR  where built databases are kept (default $THREADLINE_BENCH_CACHE or <tmp>/threadline-bench-cache)
  --rebuild        build the database even if the cache has it
  --no-write       do not rewrite the bench:search block of BENCHMARKS.md`);
  process.exit(0);
}

const log = (line) => console.log(line);
const traces = Number(args.traces);
const sizes = { traces, users: Number(args.users ?? Math.max(1, Math.round(traces / 100))), sessions: Number(args.sessions ?? Math.max(1, Math.round(traces / 10))) };
const iterations = Number(args.iterations);
const warmup = Number(args.warmup);
const machine = `${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${fmt(totalmem() / 2 ** 30, 0)} GiB, ${osType()} ${release()}, Node ${process.version}`;
log(`machine: ${machine}`);
log(`workload: ${fmt(sizes.traces)} traces, ${fmt(sizes.users)} users, ${fmt(sizes.sessions)} sessions, 5 spans each`);

const { path, loadSeconds } = await ensureDatabase({ ...sizes, cacheDir: args['cache-dir'], rebuild: args.rebuild, log });
const store = await openSqliteStore({ path });
const raw = openRaw(path);
const queries = searchQueries(store, raw, sizes);

// Same rows on both sides, or the comparison means nothing.
for (const q of queries) {
  for (const i of [0, 1, 2]) {
    const [a, b] = [await q.threadline(i), q.hand(i)];
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${q.name}: Threadline and hand-written SQL disagree (iteration ${i}): ${a.length} vs ${b.length} rows`);
  }
  log(`checked: ${q.name} — both sides return the same ${(await q.threadline(0)).length} rows`);
}

const timings = queries.map(() => ({ threadline: [], hand: [] }));
for (let i = 0; i < warmup + iterations; i++) {
  for (const [qi, q] of queries.entries()) {
    const sides = i % 2 === 0 ? ['threadline', 'hand'] : ['hand', 'threadline'];
    for (const side of sides) {
      const started = performance.now();
      await q[side](i);
      const ms = performance.now() - started;
      if (i >= warmup) timings[qi][side].push(ms);
    }
  }
  if ((i + 1) % 100 === 0) log(`  iteration ${i + 1} / ${warmup + iterations}`);
}
await store.close();
raw.close();

const rows = queries.map((q, qi) => {
  const t = timings[qi];
  const tl = { p50: median(t.threadline), p99: percentile(t.threadline, 99) };
  const hand = { p50: median(t.hand), p99: percentile(t.hand, 99) };
  return { q, tl, hand, ratio50: tl.p50 / hand.p50, ratio99: tl.p99 / hand.p99 };
});
const table = markdownTable(
  ['query', 'Threadline code path', 'Threadline p50 ms', 'p99 ms', 'hand SQL p50 ms', 'p99 ms', 'ratio p50', 'ratio p99'],
  rows.map((r) => [r.q.name, r.q.how, fmt(r.tl.p50, 3), fmt(r.tl.p99, 3), fmt(r.hand.p50, 3), fmt(r.hand.p99, 3), `${fmt(r.ratio50, 2)}x`, `${fmt(r.ratio99, 2)}x`]),
  ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
);
const worst = Math.max(...rows.map((r) => r.ratio50));
const met = rows.every((r) => r.ratio50 <= GOAL);
const dbBytes = statSync(path).size;
const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
const command = `npm run bench:search${traces !== 1_000_000 ? ` -- --traces ${traces}` : ''}`;
const body = [
  `Last run: ${date} UTC · machine: ${machine} · command: \`${command}\``,
  '',
  `Workload: ${fmt(sizes.traces)} traces (N) in one experiment, ${fmt(sizes.users)} users, ${fmt(sizes.sessions)} sessions (${fmt(sizes.traces / sizes.sessions, 0)} turns each, 5% of turns by a second user), 5 spans of ~200 B each; 4 metadata and 3 tags per trace, ${ABC_SHARE * 100}% of tag \`x\` values start with \`abc\`. SQLite file ${fmt(dbBytes / 2 ** 30, 2)} GiB${loadSeconds === undefined ? ' (cached build)' : `, built in ${fmt(loadSeconds, 0)} s`}, WAL, the server's pragmas, no ANALYZE (the server runs none).`,
  `Each query ran ${fmt(iterations)} times per side after ${warmup} warm-up runs, the two sides and the five queries interleaved, the user or session varying per iteration (the same for both sides). Threadline: the store method the HTTP route calls (parse, compile, Kysely, keyset page, traces loaded with metadata and tags), in process, no HTTP. Hand: prepared better-sqlite3 statements, the same rows and order (checked before timing).`,
  '',
  table,
  '',
  `**Worst p50 ratio ${fmt(worst, 2)}x** (goal ≤ ${GOAL}x: ${met ? 'met' : 'NOT met'} for every query). PostgreSQL: not measured (optional; skipped).`,
].join('\n');
log('');
log(body);
if (!args['no-write']) log(`\nwrote ${writeBenchmarkSection('search', 'Search at scale (bench/search)', body)}`);
