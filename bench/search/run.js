#!/usr/bin/env node
/**
 * bench/search: the seed's read queries at scale (a user's newest traces, one session's traces,
 * the sessions list, the sessions with negative feedback, the users list, the users and the
 * sessions ordered by cost, a tag LIKE) through
 * Threadline's real search code, each beside the same query written by hand in SQL on the same
 * SQLite database, as p50/p99 and their ratios
 * (goal: Threadline within 2x of hand-written SQL). Iterations interleave the two sides and the
 * queries, alternating which side goes first, because the machine is shared and noisy.
 *
 * Then the same on PostgreSQL (the dataset copied into a schema of --postgres, by default the
 * test server's URL), when one answers.
 *
 * Usage: npm run bench:search [-- --traces 100000 --iterations 300 --rebuild --verify-feedback --verify-cost --postgres URL|none --no-write]
 */
import { cpus, tmpdir, totalmem, type as osType, release } from 'node:os';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openPostgresStore, openSqliteStore } from '../../packages/server/dist/index.js';
import { openRaw } from '../ingest/raw-store.js';
import { writeBenchmarkSection } from '../lib/benchmarks-md.js';
import { fmt, markdownTable, median, percentile } from '../lib/stats.js';
import { COMMON_WORD, RARE_WORD } from './text.js';
import { ensureDatabase, ABC_SHARE } from './dataset.js';
import { ANSWER_MODELS, SECOND_CALL_SHARE, SUMMARY_MODEL } from './cost.js';
import { CHANGED_SHARE, JUDGED_SHARE, NEGATIVE_SHARE, RATED_SHARE, SATISFACTION, SESSION_RATED_SHARE } from './feedback.js';
import { ensurePostgresCopy, handPool, PostgresHand, postgresReachable } from './postgres.js';
import { searchQueries, SqliteHand } from './queries.js';

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
    'verify-feedback': { type: 'boolean', default: false },
    'verify-cost': { type: 'boolean', default: false },
    'verify-text': { type: 'boolean', default: false },
    postgres: { type: 'string', default: process.env.TEST_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/test' },
    'postgres-iterations': { type: 'string', default: '100' },
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
  --verify-feedback  replay the feedback through the server's write path and compare its rollups
                   (done anyway when feedback is added to a database of up to 20,000 traces)
  --verify-cost    replay the LLM calls' spans through the server's write path and compare every
                   table the cost touches (done anyway when cost is added to up to 20,000 traces)
  --postgres URL   also measure on this PostgreSQL (default $TEST_POSTGRES_URL or the local test server; none: skip)
  --postgres-iterations I   measured runs per side there (default 100: its tag LIKE takes seconds at 1M)
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

const { path, loadSeconds } = await ensureDatabase({ ...sizes, cacheDir: args['cache-dir'], rebuild: args.rebuild, verifyFeedback: args['verify-feedback'], verifyCost: args['verify-cost'], verifyText: args['verify-text'], log });

/**
 * Checks that both sides return the same rows, then times them: iterations interleave the queries
 * and the two sides, alternating which goes first. Answers p50/p99 per side and their ratios.
 */
async function measure(queries, iterations, warmup) {
  for (const q of queries) {
    for (const i of [0, 1, 2]) {
      const [a, b] = [await q.threadline(i), await q.hand(i)];
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
  return queries.map((q, qi) => {
    const t = timings[qi];
    const tl = { p50: median(t.threadline), p99: percentile(t.threadline, 99) };
    const hand = { p50: median(t.hand), p99: percentile(t.hand, 99) };
    return { q, tl, hand, ratio50: tl.p50 / hand.p50, ratio99: tl.p99 / hand.p99 };
  });
}

const resultTable = (rows) =>
  markdownTable(
    ['query', 'Threadline code path', 'Threadline p50 ms', 'p99 ms', 'hand SQL p50 ms', 'p99 ms', 'ratio p50', 'ratio p99'],
    rows.map((r) => [r.q.name, r.q.how, fmt(r.tl.p50, 3), fmt(r.tl.p99, 3), fmt(r.hand.p50, 3), fmt(r.hand.p99, 3), `${fmt(r.ratio50, 2)}x`, `${fmt(r.ratio99, 2)}x`]),
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
  );

log('SQLite:');
const store = await openSqliteStore({ path });
const raw = openRaw(path);
const feedbackRows = raw
  .prepare(`SELECT (SELECT COUNT(*) FROM assessments) AS assessments, (SELECT COUNT(*) FROM feedback_rollups) AS rollups,
    (SELECT COUNT(*) FROM feedback_rollups WHERE scope = 'session' AND name = ? AND false_count > 0) AS negative`)
  .get(SATISFACTION);
const costRows = raw
  .prepare(`SELECT (SELECT COUNT(*) FROM llm_calls) AS calls, (SELECT COUNT(*) FROM llm_calls WHERE cost_source IS NULL) AS unpriced,
    (SELECT SUM(cost_nanos) FROM traces) AS nanos, (SELECT COUNT(*) FROM traces WHERE cost_nanos IS NULL) AS costless,
    (SELECT MIN(cost_nanos) FROM sessions) AS session_min, (SELECT MAX(cost_nanos) FROM sessions) AS session_max,
    (SELECT COUNT(*) FROM model_hours) AS model_hours`)
  .get();
const rows = await measure(searchQueries(store, new SqliteHand(raw), sizes), iterations, warmup);
await store.close();
raw.close();
const table = resultTable(rows);

let postgresSection;
if (args.postgres !== 'none' && (await postgresReachable(args.postgres))) {
  log('PostgreSQL:');
  const copy = await ensurePostgresCopy({ sqlitePath: path, url: args.postgres, log });
  const pgStore = await openPostgresStore({ connectionString: args.postgres, schema: copy.schema });
  const pool = handPool(args.postgres, copy.schema);
  try {
    const pgIterations = Number(args['postgres-iterations']);
    const pgWarmup = Math.min(warmup, Math.ceil(pgIterations / 10));
    const pgRows = await measure(searchQueries(pgStore, new PostgresHand(pool), sizes), pgIterations, pgWarmup);
    const pgWorst = Math.max(...pgRows.map((r) => r.ratio50));
    const server = (await pool.query('SHOW server_version')).rows[0].server_version;
    postgresSection = [
      `**PostgreSQL ${server}** (the local server, default settings), the same rows copied into a schema the server's migrations created${copy.loadSeconds === undefined ? ' (cached copy)' : `, copied in ${fmt(copy.loadSeconds, 0)} s`}, VACUUMed and ANALYZEd as autovacuum would; ${fmt(pgIterations)} runs per side after ${pgWarmup} warm-up runs. Threadline: the same store methods on \`openPostgresStore\` (pool of 10); hand: named prepared statements through \`pg\` (pool of 10), the same rows and order (checked).`,
      '',
      resultTable(pgRows),
      '',
      `**Worst p50 ratio on PostgreSQL ${fmt(pgWorst, 2)}x** (goal ≤ ${GOAL}x: ${pgRows.every((r) => r.ratio50 <= GOAL) ? 'met' : 'NOT met'} for every query).`,
    ].join('\n');
  } finally {
    await pgStore.close();
    await pool.end();
  }
} else {
  postgresSection = `PostgreSQL: not measured (${args.postgres === 'none' ? '--postgres none' : `nothing answers at ${args.postgres}`}).`;
}

const worst = Math.max(...rows.map((r) => r.ratio50));
const met = rows.every((r) => r.ratio50 <= GOAL);
const dbBytes = statSync(path).size;
const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
const options = [
  ...(traces !== 1_000_000 ? [`--traces ${traces}`] : []),
  ...(iterations !== 300 ? [`--iterations ${iterations}`] : []),
  ...(postgresSection.startsWith('**PostgreSQL') && args['postgres-iterations'] !== '100' ? [`--postgres-iterations ${args['postgres-iterations']}`] : []),
];
const command = `npm run bench:search${options.length > 0 ? ` -- ${options.join(' ')}` : ''}`;
const body = [
  `Last run: ${date} UTC · machine: ${machine} · command: \`${command}\``,
  '',
  `Workload: ${fmt(sizes.traces)} traces (N) in one experiment, ${fmt(sizes.users)} users, ${fmt(sizes.sessions)} sessions (${fmt(sizes.traces / sizes.sessions, 0)} turns each, 5% of turns by a second user), 5 spans of ~200 B each; 4 metadata and 3 tags per trace, ${ABC_SHARE * 100}% of tag \`x\` values start with \`abc\`; feedback \`${SATISFACTION}\` (thumbs up / down, what the UI's "negative feedback" filter reads) on ${RATED_SHARE * 100}% of turns, ${NEGATIVE_SHARE * 100}% of it down, and on ${SESSION_RATED_SHARE * 100}% of whole sessions, ${CHANGED_SHARE * 100}% of ratings changed later (overridden), an LLM judge's \`relevance\` (1 to 5) on ${JUDGED_SHARE * 100}% of turns: ${fmt(feedbackRows.assessments)} assessments, ${fmt(feedbackRows.rollups)} \`feedback_rollups\` rows (the server's rules; checked against its write path at small scale), ${fmt(feedbackRows.negative)} sessions with a thumbs down; LLM calls: each turn's answer from its session's model (${ANSWER_MODELS.map((m) => `${m.model} ${fmt(m.share * 100, 0)}%`).join(', ')} of sessions, the last self-hosted with no known price: unpriced) and on ${fmt(SECOND_CALL_SHARE * 100, 0)}% of turns a second call (${SUMMARY_MODEL.model}) inside the tool span, the trace's tokens split over its calls: ${fmt(costRows.calls)} calls (${fmt(costRows.unpriced)} unpriced, ${fmt(costRows.costless)} traces without a cost), priced with the server's PriceBook (bundled table) into \`llm_calls\`, the traces', sessions', users' and \`trace_hours\` cost and ${fmt(costRows.model_hours)} \`model_hours\` rows (checked against its write path at small scale): $${fmt(costRows.nanos / 1e9, 2)} in all, a session's cost $${fmt(costRows.session_min / 1e9, 4)} to $${fmt(costRows.session_max / 1e9, 4)}; conversation text: each turn's root span holds the user's message (6 to 16 words) and the answer (10 to 30), Zipf over a made-up vocabulary of 5,000 words, with \`${COMMON_WORD}\` (or \`refunded\`, \`refunds\`) in ~2% of turns and \`${RARE_WORD}\` in ~0.02%, and the text index (migration 010) as the server writes it (checked against its reindex at small scale). SQLite file ${fmt(dbBytes / 2 ** 30, 2)} GiB${loadSeconds === undefined ? ' (cached build)' : `, built in ${fmt(loadSeconds, 0)} s`}, WAL, the server's pragmas, no ANALYZE (the server runs none).`,
  `Each query ran ${fmt(iterations)} times per side after ${warmup} warm-up runs, the two sides and the ${rows.length} queries interleaved, the user or session varying per iteration (the same for both sides). Threadline: the store method the HTTP route calls (parse, compile, Kysely, keyset page, traces loaded with metadata, tags, assessments and their calls' cost; sessions and users with their users and feedback), in process, no HTTP. Hand: prepared better-sqlite3 statements, the same rows and order (checked before timing).`,
  '',
  '**SQLite**',
  '',
  table,
  '',
  `**Worst p50 ratio on SQLite ${fmt(worst, 2)}x** (goal ≤ ${GOAL}x: ${met ? 'met' : 'NOT met'} for every query).`,
  '',
  postgresSection,
].join('\n');
log('');
log(body);
if (!args['no-write']) log(`\nwrote ${writeBenchmarkSection('search', 'Search at scale (bench/search)', body)}`);
