/**
 * The search benchmark's LLM calls and their cost: every turn's `llm` span becomes a model call
 * (`mlflow.llm.model`, `mlflow.llm.provider`, `mlflow.chat.tokenUsage`), and some turns gain a
 * second one (a tool that summarises its results with a small model). The trace's tokens, which
 * the generator chose, are split over its calls, so they stay what the server derives from its
 * spans. Calls are priced with the server's own code (`pricedNewTrace`: its PriceBook with the
 * bundled price table, its rule for which calls count), and `llm_calls`, `traces.cost_nanos` /
 * `unpriced_calls`, the `cost_nanos` of `sessions`, `users` and `trace_hours`, and `model_hours`
 * are filled as the server keeps them (cost-writes.ts, rollups.ts).
 *
 * Added to a database that has its traces, in a pass of its own with its own seed, so a cached
 * database without cost (or with an older version of it) gains it without a rebuild: the version
 * is kept in the table `bench_cost`. On small databases the result is checked against the
 * server's write path: the calls' spans replayed through `logSpans` into a copy without them
 * must leave the same rows in every table the cost touches.
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { SpanAttributeKey } from '../../packages/protocol/dist/index.js';
import { openSqliteStore } from '../../packages/server/dist/index.js';
import { PriceBook } from '../../packages/server/dist/cost/price-book.js';
import { parseJsonBody } from '../../packages/server/dist/ingest/json-body.js';
import { parseMlflowSpans } from '../../packages/server/dist/ingest/mlflow-spans.js';
import { spanToMlflowJson } from '../../packages/server/dist/ingest/span-json.js';
import { tokenUsageFromSpans } from '../../packages/server/dist/ingest/trace-derivation.js';
import { pricedNewTrace } from '../../packages/server/dist/store/cost-writes.js';
import { traceHourKey } from '../../packages/server/dist/store/rollups.js';
import { hex, rng } from '../lib/random.js';
import { ensureAddition, onCopy } from './additions.js';

/** Bump when the generated calls change, so cached databases get them anew. */
export const COST_VERSION = 1;
/**
 * The model a session's answers come from (an A/B of deployments, chosen per session), by share.
 * The last is a self-hosted fine-tune no price is known for: its calls are unpriced, counted and
 * never guessed, as the server does.
 */
export const ANSWER_MODELS = [
  { model: 'gpt-4.1-mini', provider: 'openai', share: 0.5 },
  { model: 'claude-sonnet-4-5', provider: 'anthropic', share: 0.25 },
  { model: 'gpt-4o', provider: 'openai', share: 0.2 },
  { model: 'support-ft-7b', provider: 'vllm', share: 0.05 },
];
/** The second call's model, and the share of turns that make one (inside their `tool` span). */
export const SUMMARY_MODEL = { model: 'gpt-4.1-mini', provider: 'openai' };
export const SECOND_CALL_SHARE = 0.35;
const SECOND_CALL_NAME = 'summarize_results';
/** Spans per trace before the cost pass (dataset.js writeSpans). */
const BASE_SPANS = 5;
const CHUNK = 20_000;

/**
 * Gives the database at `path` its LLM calls and cost unless it has this version of them already.
 * @param {{ path: string, experimentId: number, log: (line: string) => void, verify?: boolean }} o
 *   verify: check against the server's write path (default: when the database is small)
 */
export async function ensureCost({ path, experimentId, log, verify }) {
  const write = (db) => {
    const written = writeCost(db, experimentId, log);
    return { traces: written.traces, added: `${written.calls.toLocaleString('en-US')} LLM calls (cost of ${written.traces.toLocaleString('en-US')} traces, their rollups and ${written.modelHours.toLocaleString('en-US')} model_hours rows)` };
  };
  await ensureAddition({ path, table: 'bench_cost', version: COST_VERSION, write, check: verifyAgainstServer, log, verify });
}

/** A number in [0, 1) fixed by `text`: the session's deployment does not depend on the order traces are read in. */
function unitOf(text) {
  return createHash('sha256').update(`cost:${text}`).digest().readUInt32BE(0) / 2 ** 32;
}

function answerModel(sessionId, rand) {
  let u = sessionId === null ? rand() : unitOf(sessionId);
  for (const m of ANSWER_MODELS) {
    if (u < m.share) return m;
    u -= m.share;
  }
  return ANSWER_MODELS[ANSWER_MODELS.length - 1];
}

/** An LLM span as the SDKs log it: model, provider and token usage. */
function callSpan({ spanId, parentSpanId, name, status, startNs, endNs, model, provider, input, output }) {
  return {
    spanId, parentSpanId, name, type: 'LLM', status, statusMessage: '', startNs, endNs, events: [],
    attributes: {
      [SpanAttributeKey.SPAN_TYPE]: 'LLM',
      [SpanAttributeKey.LLM_MODEL]: model,
      [SpanAttributeKey.LLM_PROVIDER]: provider,
      [SpanAttributeKey.TOKEN_USAGE]: { input_tokens: input, output_tokens: output, total_tokens: input + output },
    },
  };
}

/** What the bench knows of a trace's other spans: enough for the server's rule of which calls count. */
const stub = (spanId, parentSpanId) => ({ spanId, parentSpanId, startNs: 0n, attributes: {} });

function writeCost(db, experimentId, log) {
  const book = new PriceBook();
  const rand = rng(2026);
  db.pragma('cache_size = -500000');
  db.transaction(() => {
    db.exec('DELETE FROM bench_cost');
    // An older version's second calls go (found through their calls); every first call is rewritten below.
    db.prepare(`DELETE FROM spans WHERE rowid IN (SELECT s.rowid FROM llm_calls AS c JOIN spans AS s ON s.trace_key = c.trace_key AND s.span_id = c.span_id WHERE s.name = ?)`).run(SECOND_CALL_NAME);
    db.exec('DELETE FROM llm_calls; DELETE FROM model_hours');
  })();

  // Rowid order is the order the generator wrote traces and spans in: updates walk the tables once.
  // (`+`: not by an experiment index, which would sort all the experiment's traces for every chunk.)
  const read = db
    .prepare(`SELECT t.rowid AS rowid, t.trace_key, t.trace_id, t.session_id, t.user_id, t.request_time, t.execution_duration, t.input_tokens, t.output_tokens,
        l.rowid AS llm_rowid, l.span_id AS llm_id, l.parent_span_id AS root_id, l.status AS llm_status, l.start_ns AS llm_start, l.end_ns AS llm_end,
        o.span_id AS tool_id, o.start_ns AS tool_start, o.end_ns AS tool_end
      FROM traces AS t
      JOIN spans AS l ON l.trace_key = t.trace_key AND l.name = 'llm'
      JOIN spans AS o ON o.trace_key = t.trace_key AND o.name = 'tool'
      WHERE t.rowid > ? AND +t.experiment_id = ? ORDER BY t.rowid LIMIT ?`)
    .safeIntegers(true);
  const updateSpan = db.prepare('UPDATE spans SET content = ? WHERE rowid = ?');
  const insertSpan = db.prepare('INSERT INTO spans (trace_key, span_id, parent_span_id, name, type, status, start_ns, end_ns, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
  // The trace's key bound by position, the call's own columns by name.
  const insertCall = db.prepare(`INSERT INTO llm_calls (trace_key, span_id, experiment_id, hour_start, model, provider, input_tokens, output_tokens,
      cache_read_tokens, cache_write_tokens, reasoning_tokens, explicit_cost_nanos, cost_nanos, input_cost_nanos, output_cost_nanos, cost_source, counted)
    VALUES (?, @span_id, @experiment_id, @hour_start, @model, @provider, @input_tokens, @output_tokens,
      @cache_read_tokens, @cache_write_tokens, @reasoning_tokens, @explicit_cost_nanos, @cost_nanos, @input_cost_nanos, @output_cost_nanos, @cost_source, @counted)`);
  const updateTrace = db.prepare('UPDATE traces SET cost_nanos = ?, unpriced_calls = ?, span_count = ? WHERE rowid = ?');

  const sessions = new Map();
  const users = new Map();
  const hours = new Map();
  const models = new Map();
  const add = (map, key, nanos) => map.set(key, (map.get(key) ?? 0) + nanos);
  let traces = 0;
  let calls = 0;
  for (let after = 0n; ; ) {
    const rows = read.all(after, experimentId, CHUNK);
    if (rows.length === 0) break;
    db.transaction(() => {
      for (const r of rows) {
        const traceId = r.trace_id;
        const input = Number(r.input_tokens);
        const output = Number(r.output_tokens);
        const answer = answerModel(r.session_id, rand);
        const spans = [stub(r.root_id, null), stub(r.tool_id, r.root_id)];
        const common = { status: r.llm_status, startNs: r.llm_start, endNs: r.llm_end };
        if (rand() < SECOND_CALL_SHARE) {
          // The summary reads part of the turn's input and writes part of its output.
          const summaryIn = Math.round(input * (0.25 + rand() * 0.25));
          const summaryOut = Math.round(output * (0.2 + rand() * 0.2));
          const margin = (r.tool_end - r.tool_start) / 10n;
          spans.push(
            callSpan({ spanId: r.llm_id, parentSpanId: r.root_id, name: 'llm', ...common, ...answer, input: input - summaryIn, output: output - summaryOut }),
            callSpan({ spanId: hex(rand, 16), parentSpanId: r.tool_id, name: SECOND_CALL_NAME, status: 'OK', startNs: r.tool_start + margin, endNs: r.tool_end - margin, ...SUMMARY_MODEL, input: summaryIn, output: summaryOut }),
          );
        } else {
          spans.push(callSpan({ spanId: r.llm_id, parentSpanId: r.root_id, name: 'llm', ...common, ...answer, input, output }));
        }
        const [, , first, second] = spans;
        updateSpan.run(spanToMlflowJson(traceId, first), r.llm_rowid);
        if (second) {
          insertSpan.run(r.trace_key, second.spanId, second.parentSpanId, second.name, second.type, second.status, second.startNs.toString(), second.endNs.toString(), spanToMlflowJson(traceId, second));
        }
        const priced = pricedNewTrace(experimentId, spans, book);
        for (const call of priced.rows) {
          insertCall.run(r.trace_key, call);
          calls++;
          if (!call.counted) continue;
          const id = `${String(call.hour_start).padStart(16, '0')}\u0000${call.model}`;
          let m = models.get(id);
          if (!m) models.set(id, (m = { experiment_id: experimentId, hour_start: call.hour_start, model: call.model, calls: 0, unpriced_calls: 0, input_tokens: 0, output_tokens: 0, cost_nanos: 0 }));
          m.calls++;
          m.unpriced_calls += call.cost_source === null ? 1 : 0;
          m.input_tokens += call.input_tokens;
          m.output_tokens += call.output_tokens;
          m.cost_nanos += call.cost_nanos ?? 0;
        }
        updateTrace.run(priced.cost.cost_nanos, priced.cost.unpriced_calls, BASE_SPANS + (second ? 1 : 0), r.rowid);
        const nanos = priced.cost.cost_nanos ?? 0;
        if (r.session_id !== null) add(sessions, r.session_id, nanos);
        if (r.user_id !== null) add(users, r.user_id, nanos);
        const duration = r.execution_duration === null ? null : Number(r.execution_duration);
        const hour = traceHourKey({ experimentId, traceId, requestTime: Number(r.request_time), durationMs: duration });
        add(hours, `${hour.hour_start}:${hour.latency_bin}:${hour.shard}`, nanos);
        traces++;
      }
    })();
    after = rows[rows.length - 1].rowid;
    if (traces % 200_000 < CHUNK) log(`  priced ${traces.toLocaleString('en-US')} traces`);
  }

  db.transaction(() => {
    const setSession = db.prepare('UPDATE sessions SET cost_nanos = ? WHERE experiment_id = ? AND session_id = ?');
    const setUser = db.prepare('UPDATE users SET cost_nanos = ? WHERE experiment_id = ? AND user_id = ?');
    const setHour = db.prepare('UPDATE trace_hours SET cost_nanos = ? WHERE experiment_id = ? AND hour_start = ? AND latency_bin = ? AND shard = ?');
    for (const table of ['sessions', 'users', 'trace_hours']) db.prepare(`UPDATE ${table} SET cost_nanos = 0 WHERE experiment_id = ?`).run(experimentId);
    for (const [sid, nanos] of sessions) setSession.run(nanos, experimentId, sid);
    for (const [uid, nanos] of users) setUser.run(nanos, experimentId, uid);
    for (const [key, nanos] of hours) setHour.run(nanos, experimentId, ...key.split(':').map(Number));
    const insertModelHour = db.prepare(`INSERT INTO model_hours (experiment_id, hour_start, model, calls, unpriced_calls, input_tokens, output_tokens, cost_nanos)
      VALUES (@experiment_id, @hour_start, @model, @calls, @unpriced_calls, @input_tokens, @output_tokens, @cost_nanos)`);
    for (const id of [...models.keys()].sort()) insertModelHour.run(models.get(id));
    db.prepare('INSERT INTO bench_cost (version) VALUES (?)').run(COST_VERSION);
  })();

  // Every sum of cost, and of counted calls, must agree.
  const sums = db
    .prepare(`SELECT (SELECT SUM(cost_nanos) FROM traces) AS traces, (SELECT SUM(cost_nanos) FROM sessions) AS sessions, (SELECT SUM(cost_nanos) FROM users) AS users,
      (SELECT SUM(cost_nanos) FROM trace_hours) AS hours, (SELECT SUM(cost_nanos) FROM model_hours) AS models, (SELECT SUM(cost_nanos) FROM llm_calls WHERE counted = 1) AS calls,
      (SELECT SUM(calls) FROM model_hours) AS model_calls, (SELECT COUNT(*) FROM llm_calls WHERE counted = 1) AS counted`)
    .get();
  const costs = [sums.traces, sums.sessions, sums.users, sums.hours, sums.models, sums.calls];
  if (costs.some((c) => c !== costs[0]) || sums.model_calls !== sums.counted) throw new Error(`cost: the sums disagree: ${JSON.stringify(sums)}`);
  return { traces, calls, modelHours: models.size };
}

/** The tables the cost touches, each in its primary key's order. */
const COST_TABLES = {
  traces: 'trace_id',
  spans: 'trace_key, span_id',
  llm_calls: 'trace_key, span_id',
  sessions: 'experiment_id, session_id',
  users: 'experiment_id, user_id',
  trace_hours: 'experiment_id, hour_start, latency_bin, shard',
  model_hours: 'experiment_id, hour_start, model',
};
const snapshot = (db) => Object.fromEntries(Object.entries(COST_TABLES).map(([table, order]) => [table, db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).raw().all().map((r) => JSON.stringify(r))]));

/**
 * Replays the database's LLM call spans through the server's write path (`logSpans`, as an SDK's
 * upload of them would arrive) into a copy that has the traces without those spans and without
 * any cost, and checks that every table the cost touches comes out the same; and that each
 * trace's tokens are what the server derives from its calls' spans.
 */
async function verifyAgainstServer(path, log) {
  await onCopy(path, async (copy) => {
    const db = new Database(copy);
    const want = snapshot(db);
    const callSpans = db
      .prepare(`SELECT t.trace_id, s.content, t.input_tokens, t.output_tokens, t.total_tokens FROM llm_calls AS c
        JOIN spans AS s ON s.trace_key = c.trace_key AND s.span_id = c.span_id JOIN traces AS t ON t.trace_key = c.trace_key ORDER BY t.trace_id, s.span_id`)
      .all();
    db.transaction(() => {
      db.exec(`UPDATE traces SET span_count = span_count - (SELECT COUNT(*) FROM llm_calls AS c WHERE c.trace_key = traces.trace_key), cost_nanos = NULL, unpriced_calls = 0;
        DELETE FROM spans WHERE rowid IN (SELECT s.rowid FROM llm_calls AS c JOIN spans AS s ON s.trace_key = c.trace_key AND s.span_id = c.span_id);
        DELETE FROM llm_calls; DELETE FROM model_hours;
        UPDATE sessions SET cost_nanos = 0; UPDATE users SET cost_nanos = 0; UPDATE trace_hours SET cost_nanos = 0;`);
    })();
    db.close();

    const byTrace = new Map();
    for (const row of callSpans) {
      const entry = byTrace.get(row.trace_id) ?? { row, contents: [] };
      entry.contents.push(row.content);
      byTrace.set(row.trace_id, entry);
    }
    const store = await openSqliteStore({ path: copy });
    try {
      for (const [traceId, { row, contents }] of byTrace) {
        const spans = parseMlflowSpans(traceId, parseJsonBody(`{"spans":[${contents.join(',')}]}`));
        const tokens = tokenUsageFromSpans(spans);
        if (tokens?.inputTokens !== row.input_tokens || tokens?.outputTokens !== row.output_tokens || tokens?.totalTokens !== row.total_tokens) {
          throw new Error(`cost: trace ${traceId} has tokens ${row.input_tokens}/${row.output_tokens}/${row.total_tokens}, its calls ${JSON.stringify(tokens)}`);
        }
        const result = await store.logSpans(traceId, spans);
        if (result.kind !== 'stored') throw new Error(`cost: the server refused the calls of ${traceId}: ${JSON.stringify(result)}`);
      }
    } finally {
      await store.close();
    }

    const replayed = new Database(copy, { readonly: true });
    try {
      const got = snapshot(replayed);
      for (const table of Object.keys(COST_TABLES)) {
        const [a, b] = [want[table], got[table]];
        const diff = a.length === b.length ? a.findIndex((r, i) => r !== b[i]) : Math.min(a.length, b.length);
        if (diff !== -1) throw new Error(`cost: ${table} differs from the server's write path (${a.length} generated rows, ${b.length} written; first difference at ${diff}: ${a[diff]} vs ${b[diff]})`);
      }
      log(`checked: cost — the ${callSpans.length.toLocaleString('en-US')} LLM calls of ${byTrace.size.toLocaleString('en-US')} traces replayed through the server's logSpans leave the same traces, spans, llm_calls, sessions, users, trace_hours and model_hours rows, and each trace's tokens are its calls'`);
    } finally {
      replayed.close();
    }
  });
}
