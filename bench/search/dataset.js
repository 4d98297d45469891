/**
 * The search benchmark's database: N traces of U users in S sessions (N/S turns each), 5 small
 * spans per trace, written with raw prepared better-sqlite3 inserts into a database migrated by
 * the server itself, the rollups computed here and bulk-inserted; then feedback on some turns and
 * sessions (feedback.js) and LLM calls with their cost (cost.js). Deterministic (seeded), and
 * cached under a key of GENERATOR_VERSION and the sizes, so re-runs skip the load. A cached file
 * is brought up to date by the server's own migrations, as a server upgrade would (so a file
 * built before a migration gains its tables and columns), and the feedback and the cost each have
 * a version of their own, kept in the file, so a newer one is added to a cached file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TraceMetadataKey, TraceTagKey, SPANS_LOCATION_TRACKING_STORE } from '../../packages/protocol/dist/index.js';
import Database from 'better-sqlite3';
import { traceHourKey } from '../../packages/server/dist/store/rollups.js';
import { createSchema } from '../ingest/raw-store.js';
import { ensureCost } from './cost.js';
import { ensureFeedback } from './feedback.js';
import { ensureText } from './text.js';
import { ensureKeyHours } from './key-hours.js';
import { hex, rng } from '../lib/random.js';

/** Bump when the generated rows change, so cached databases are rebuilt. */
const GENERATOR_VERSION = 4;
export const EXPERIMENT_ID = 1;
/** Share of traces whose tag `x` starts with `abc` (the LIKE query's matches). */
export const ABC_SHARE = 0.01;
/** Share of a session's turns logged by a second user of the session. */
const GUEST_SHARE = 0.05;
const DAY_MS = 86_400_000;
const T0 = Date.UTC(2026, 9, 1);
const SPAN_TYPES = ['CHAIN', 'RETRIEVER', 'LLM', 'TOOL', 'PARSER'];

export const userId = (u) => `u-${String(u).padStart(6, '0')}`;
export const sessionId = (s) => `s-${String(s).padStart(7, '0')}`;


/**
 * The database file for these sizes, built if the cache does not have it, on the server's current
 * schema, with the current versions of the feedback and the cost (added to a cached file that
 * lacks them).
 * @param {{ traces: number, users: number, sessions: number, cacheDir: string, rebuild?: boolean, verifyFeedback?: boolean, verifyCost?: boolean, log: (line: string) => void }} o
 *   verifyFeedback, verifyCost: check the feedback rollups, or the cost, against the server's
 *   write path even on a large or cached database
 */
export async function ensureDatabase(o) {
  const key = cacheKey(o);
  const path = join(o.cacheDir, `search-${o.traces}-${key}.db`);
  const additions = async () => {
    await ensureFeedback({ path, experimentId: EXPERIMENT_ID, log: o.log, ...(o.verifyFeedback ? { verify: true } : {}) });
    await ensureCost({ path, experimentId: EXPERIMENT_ID, log: o.log, ...(o.verifyCost ? { verify: true } : {}) });
    await ensureText({ path, experimentId: EXPERIMENT_ID, log: o.log, ...(o.verifyText ? { verify: true } : {}) });
    ensureKeyHours({ path, log: o.log });
  };
  if (existsSync(path) && !o.rebuild) {
    o.log(`database: cached ${path}`);
    await migrate(path, o.log);
    await additions();
    return { path, loadSeconds: undefined };
  }
  mkdirSync(o.cacheDir, { recursive: true });
  // Older builds of the same size are stale (another schema or generator): drop them.
  for (const name of readdirSync(o.cacheDir)) if (name.startsWith(`search-${o.traces}-`)) rmSync(join(o.cacheDir, name), { force: true });
  const partial = `${path}.partial`;
  const started = performance.now();
  await load({ ...o, path: partial });
  renameSync(partial, path);
  await additions();
  const loadSeconds = (performance.now() - started) / 1000;
  o.log(`database: built ${path} in ${loadSeconds.toFixed(0)} s`);
  return { path, loadSeconds };
}

/**
 * What the cached file's rows depend on: the generator's version and the sizes. Not the schema:
 * the server's migrations bring a cached file up to date (`migrate`); a migration the generator's
 * inserts no longer fit fails the build, which then needs a new GENERATOR_VERSION.
 */
function cacheKey({ traces, users, sessions }) {
  return createHash('sha256').update(JSON.stringify({ GENERATOR_VERSION, traces, users, sessions })).digest('hex').slice(0, 12);
}

/** Runs the server's migrations on a cached file (opening it as the server does), logging those it ran. */
async function migrate(path, log) {
  const applied = () => {
    const db = new Database(path, { readonly: true });
    try {
      return db.prepare('SELECT name FROM threadline_migrations ORDER BY name').pluck().all();
    } finally {
      db.close();
    }
  };
  const before = applied();
  await createSchema(path);
  const ran = applied().filter((name) => !before.includes(name));
  if (ran.length > 0) log(`database: migrated the cached file (${ran.join(', ')})`);
}

async function load({ traces, users, sessions, path, log }) {
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
  await createSchema(path);
  const db = new Database(path);
  // A throw-away file until renamed into the cache: journal in memory, no syncs, a large page
  // cache. Leaving WAL needs a read first; better-sqlite3's defensive mode refuses journal_mode OFF.
  db.prepare('SELECT count(*) FROM sqlite_master').get();
  db.pragma('journal_mode = MEMORY');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -2000000');
  db.pragma('locking_mode = EXCLUSIVE');
  db.prepare(`INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
    VALUES (?, 'search-bench', 'mlflow-artifacts:/1', 'active', 0, 0)`).run(EXPERIMENT_ID);

  // Traces numbered in the order they are written, as the server numbers them (migration 015);
  // their metadata, tags (015) and spans (016) keyed by that number.
  const insertTrace = db.prepare(`INSERT INTO traces (trace_key, trace_id, experiment_id, client_request_id, request_time, execution_duration, state,
    request_preview, response_preview, name, user_id, session_id, input_tokens, output_tokens, total_tokens, span_count)
    VALUES (?, ?, ${EXPERIMENT_ID}, NULL, ?, ?, ?, ?, ?, 'chat', ?, ?, ?, ?, ?, 5)`);
  const insertMetadata = db.prepare('INSERT INTO trace_metadata (trace_key, key, value) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?), (?, ?, ?)');
  const insertTags = db.prepare('INSERT INTO trace_tags (trace_key, key, value) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)');
  let traceKey = 0;
  const insertSpan = db.prepare('INSERT INTO spans (trace_key, span_id, parent_span_id, name, type, status, start_ns, end_ns, content) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');

  const rand = rng(42);
  const sessionRows = [];
  const userRows = new Map();
  const links = new Set();
  const hourRows = new Map();
  let written = 0;
  const BATCH = 20_000;
  let inBatch = 0;
  db.exec('BEGIN');
  for (let s = 0; s < sessions; s++) {
    const turns = Math.floor(((s + 1) * traces) / sessions) - Math.floor((s * traces) / sessions);
    if (turns === 0) continue;
    const owner = Math.floor(rand() * users);
    const guest = Math.floor(rand() * users);
    const start = T0 + Math.floor(rand() * 30 * DAY_MS);
    const sid = sessionId(s);
    const session = { session_id: sid, first_time: Infinity, last_time: -Infinity, last_end_time: -Infinity, trace_count: 0, error_count: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0, users: new Set(), first: null, last: null };
    for (let k = 0; k < turns; k++) {
      const traceId = `tr-${hex(rand, 32)}`;
      const uid = userId(rand() < GUEST_SHARE ? guest : owner);
      const time = start + k * 45_000 + Math.floor(rand() * 10_000);
      const duration = 200 + Math.floor(rand() * 3000);
      const error = rand() < 0.02;
      const input = 50 + Math.floor(rand() * 500);
      const output = 20 + Math.floor(rand() * 300);
      const request = `question ${k} of ${sid}`;
      const response = `answer ${k}`;
      traceKey++;
      insertTrace.run(traceKey, traceId, time, duration, error ? 'ERROR' : 'OK', request, response, uid, sid, input, output, input + output);
      insertMetadata.run(
        traceKey, TraceMetadataKey.USER, uid,
        traceKey, TraceMetadataKey.SESSION, sid,
        traceKey, TraceMetadataKey.SCHEMA_VERSION, '3',
        traceKey, TraceMetadataKey.INFO_FINALIZED, 'true',
      );
      const x = rand() < ABC_SHARE ? `abc${hex(rand, 5)}` : hex(rand, 8);
      insertTags.run(traceKey, 'x', x, traceKey, TraceTagKey.TRACE_NAME, 'chat', traceKey, TraceTagKey.SPANS_LOCATION, SPANS_LOCATION_TRACKING_STORE);
      writeSpans(insertSpan, rand, traceKey, traceId, time, duration, error);

      const hourKey = traceHourKey({ experimentId: EXPERIMENT_ID, traceId, requestTime: time, durationMs: duration });
      const hourId = `${hourKey.hour_start}:${hourKey.latency_bin}:${hourKey.shard}`;
      if (!hourRows.has(hourId)) hourRows.set(hourId, { ...hourKey, trace_count: 0, error_count: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0 });
      for (const row of [session, userRow(userRows, uid), hourRows.get(hourId)]) {
        if ('first_time' in row) row.first_time = Math.min(row.first_time, time);
        if ('last_time' in row) row.last_time = Math.max(row.last_time, time);
        row.trace_count++;
        row.error_count += error ? 1 : 0;
        row.input_tokens += input;
        row.output_tokens += output;
        row.total_tokens += input + output;
      }
      session.last_end_time = Math.max(session.last_end_time, time + duration);
      session.users.add(uid);
      links.add(`${sid}\u0000${uid}`);
      if (!session.first || time < session.first.time || (time === session.first.time && traceId < session.first.id)) session.first = { time, id: traceId, preview: request };
      if (!session.last || time > session.last.time || (time === session.last.time && traceId > session.last.id)) session.last = { time, id: traceId, preview: response };

      written++;
      if (++inBatch === BATCH) {
        db.exec('COMMIT');
        db.exec('BEGIN');
        inBatch = 0;
        if (written % 200_000 === 0) log(`  loaded ${written.toLocaleString('en-US')} / ${traces.toLocaleString('en-US')} traces`);
      }
    }
    sessionRows.push(session);
  }
  db.exec('COMMIT');
  writeRollups(db, sessionRows, userRows, links, hourRows);
  const counted = db.prepare('SELECT SUM(trace_count) AS n, SUM(total_tokens) AS t FROM trace_hours').get();
  const stored = db.prepare('SELECT COUNT(*) AS n, SUM(total_tokens) AS t FROM traces').get();
  if (counted.n !== stored.n || counted.t !== stored.t) throw new Error(`trace_hours counts ${counted.n} traces, ${counted.t} tokens; traces hold ${stored.n}, ${stored.t}`);
  db.pragma('journal_mode = WAL');
  db.close();
}

function userRow(rows, uid) {
  let row = rows.get(uid);
  if (!row) rows.set(uid, (row = { user_id: uid, first_time: Infinity, last_time: -Infinity, trace_count: 0, session_count: 0, error_count: 0, input_tokens: 0, output_tokens: 0, total_tokens: 0 }));
  return row;
}

/** Five spans of ~200 bytes of content each: a CHAIN root and four children. */
function writeSpans(insertSpan, rand, traceKey, traceId, time, duration, error) {
  const rootId = hex(rand, 16);
  const startNs = BigInt(time) * 1_000_000n;
  const step = BigInt(Math.floor(duration / 5)) * 1_000_000n;
  SPAN_TYPES.forEach((type, i) => {
    const spanId = i === 0 ? rootId : hex(rand, 16);
    const parent = i === 0 ? null : rootId;
    const start = startNs + step * BigInt(i);
    const end = i === 0 ? startNs + BigInt(duration) * 1_000_000n : start + step;
    const status = error && i === 0 ? 'ERROR' : 'OK';
    const name = type.toLowerCase();
    const content = JSON.stringify({
      trace_id: traceId, span_id: spanId, parent_span_id: parent, name,
      start_time_unix_nano: String(start), end_time_unix_nano: String(end),
      status: { code: status }, attributes: { 'mlflow.spanType': JSON.stringify(type) },
    });
    insertSpan.run(traceKey, spanId, parent, name, type, status, String(start), String(end), content);
  });
}

function writeRollups(db, sessionRows, userRows, links, hourRows) {
  const insertHour = db.prepare(`INSERT INTO trace_hours (experiment_id, hour_start, latency_bin, shard, trace_count, error_count, input_tokens, output_tokens, total_tokens)
    VALUES (@experiment_id, @hour_start, @latency_bin, @shard, @trace_count, @error_count, @input_tokens, @output_tokens, @total_tokens)`);
  const insertSession = db.prepare(`INSERT INTO sessions (experiment_id, session_id, first_time, last_time, last_end_time, trace_count, error_count,
    input_tokens, output_tokens, total_tokens, user_count, first_trace_id, first_request_preview, last_trace_id, last_response_preview)
    VALUES (${EXPERIMENT_ID}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertUser = db.prepare(`INSERT INTO users (experiment_id, user_id, first_time, last_time, trace_count, session_count, error_count,
    input_tokens, output_tokens, total_tokens) VALUES (${EXPERIMENT_ID}, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const insertLink = db.prepare(`INSERT INTO session_users (experiment_id, session_id, user_id) VALUES (${EXPERIMENT_ID}, ?, ?)`);
  db.exec('BEGIN');
  for (const s of sessionRows) {
    insertSession.run(s.session_id, s.first_time, s.last_time, s.last_end_time, s.trace_count, s.error_count, s.input_tokens, s.output_tokens, s.total_tokens,
      s.users.size, s.first.id, s.first.preview, s.last.id, s.last.preview);
  }
  for (const link of links) {
    const [sid, uid] = link.split('\u0000');
    insertLink.run(sid, uid);
    userRows.get(uid).session_count++;
  }
  for (const u of userRows.values()) {
    insertUser.run(u.user_id, u.first_time, u.last_time, u.trace_count, u.session_count, u.error_count, u.input_tokens, u.output_tokens, u.total_tokens);
  }
  for (const h of hourRows.values()) insertHour.run(h);
  db.exec('COMMIT');
}

/**
 * A built database for these sizes that is already in the cache, without building or changing
 * anything: this build's file, else the newest older build with the same trace count (another
 * generator or older migrations; whoever opens it with the server migrates it, so open a copy),
 * else undefined. For benchmarks that copy the dataset rather than read it.
 * @param {{ traces: number, users: number, sessions: number, cacheDir: string }} o
 * @returns {{ path: string, current: boolean } | undefined}
 */
export function cachedDatabase(o) {
  const path = join(o.cacheDir, `search-${o.traces}-${cacheKey(o)}.db`);
  if (existsSync(path)) return { path, current: true };
  if (!existsSync(o.cacheDir)) return undefined;
  const older = readdirSync(o.cacheDir)
    .filter((name) => name.startsWith(`search-${o.traces}-`) && name.endsWith('.db'))
    .map((name) => join(o.cacheDir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return older.length > 0 ? { path: older[0], current: false } : undefined;
}
