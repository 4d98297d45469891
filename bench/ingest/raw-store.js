/**
 * The baseline: the same rows the server stores, written straight into SQLite with better-sqlite3
 * prepared statements, on a database with the server's schema (its own migrations) and pragmas.
 */
import Database from 'better-sqlite3';
import { openSqliteStore } from '../../packages/server/dist/index.js';
import { traceHourKey } from '../../packages/server/dist/store/rollups.js';
import { sqliteDialect } from '../../packages/server/dist/store/sqlite/sqlite-dialect.js';

// Numbered as the server numbers a trace it inserts: its own SQL for it, not a copy.
const INSERT_TRACE = `INSERT INTO traces (trace_key, trace_id, experiment_id, client_request_id, request_time, execution_duration, state,
  request_preview, response_preview, name, user_id, session_id, input_tokens, output_tokens, total_tokens, span_count, cost_nanos, unpriced_calls)
  VALUES (${sqliteDialect.newTraceKey}, @trace_id, @experiment_id, @client_request_id, @request_time, @execution_duration, @state,
  @request_preview, @response_preview, @name, @user_id, @session_id, @input_tokens, @output_tokens, @total_tokens, @span_count, @cost_nanos, @unpriced_calls)
  ON CONFLICT (trace_id) DO NOTHING RETURNING trace_key`;

// The trace's key bound by position, the row's own columns by name.
const INSERT_SPAN = `INSERT INTO spans (trace_key, span_id, parent_span_id, name, type, status, start_ns, end_ns, content)
  VALUES (?, @span_id, @parent_span_id, @name, @type, @status, @start_ns, @end_ns, @content)`;

const INSERT_CALL = `INSERT INTO llm_calls (trace_key, span_id, experiment_id, hour_start, model, provider, input_tokens, output_tokens,
  cache_read_tokens, cache_write_tokens, reasoning_tokens, explicit_cost_nanos, cost_nanos, input_cost_nanos, output_cost_nanos, cost_source, counted)
  VALUES (?, @span_id, @experiment_id, @hour_start, @model, @provider, @input_tokens, @output_tokens,
  @cache_read_tokens, @cache_write_tokens, @reasoning_tokens, @explicit_cost_nanos, @cost_nanos, @input_cost_nanos, @output_cost_nanos, @cost_source, @counted)`;
// cost-writes.ts ModelHourDeltas: counted calls only, per (experiment, hour of the call, model).
const UPSERT_MODEL_HOUR = `INSERT INTO model_hours (experiment_id, hour_start, model, calls, unpriced_calls, input_tokens, output_tokens, cost_nanos)
  VALUES (@experiment_id, @hour_start, @model, 1, @unpriced, @input_tokens, @output_tokens, @cost)
  ON CONFLICT (experiment_id, hour_start, model) DO UPDATE SET
    calls = model_hours.calls + 1, unpriced_calls = model_hours.unpriced_calls + @unpriced,
    input_tokens = model_hours.input_tokens + @input_tokens, output_tokens = model_hours.output_tokens + @output_tokens,
    cost_nanos = model_hours.cost_nanos + @cost`;

// The rollup upserts of packages/server/src/store/rollups.ts (addToRollups, shiftHours), as plain SQL.
const addCounters = (table) =>
  [`trace_count = ${table}.trace_count + 1`, ...['error_count:errors', 'input_tokens', 'output_tokens', 'total_tokens', 'cost_nanos:cost'].map((c) => {
    const [column, param = column] = c.split(':');
    return `${column} = ${table}.${column} + @${param}`;
  })].join(',\n    ');
const EARLIER = `(@time < sessions.first_time OR (@time = sessions.first_time AND @trace_id < sessions.first_trace_id))`;
const LATER = `(@time > sessions.last_time OR (@time = sessions.last_time AND @trace_id > sessions.last_trace_id))`;
const UPSERT_SESSION = `INSERT INTO sessions (experiment_id, session_id, first_time, last_time, last_end_time, trace_count, error_count,
  input_tokens, output_tokens, total_tokens, cost_nanos, user_count, first_trace_id, first_request_preview, last_trace_id, last_response_preview)
  VALUES (@experiment_id, @session_id, @time, @time, @end_time, 1, @errors, @input_tokens, @output_tokens, @total_tokens, @cost, 0,
  @trace_id, @request_preview, @trace_id, @response_preview)
  ON CONFLICT (experiment_id, session_id) DO UPDATE SET
    ${addCounters('sessions')},
    first_trace_id = CASE WHEN ${EARLIER} THEN @trace_id ELSE sessions.first_trace_id END,
    first_request_preview = CASE WHEN ${EARLIER} THEN @request_preview ELSE sessions.first_request_preview END,
    first_time = CASE WHEN @time < sessions.first_time THEN @time ELSE sessions.first_time END,
    last_trace_id = CASE WHEN ${LATER} THEN @trace_id ELSE sessions.last_trace_id END,
    last_response_preview = CASE WHEN ${LATER} THEN @response_preview ELSE sessions.last_response_preview END,
    last_time = CASE WHEN @time > sessions.last_time THEN @time ELSE sessions.last_time END,
    last_end_time = CASE WHEN @end_time > sessions.last_end_time THEN @end_time ELSE sessions.last_end_time END`;
const UPSERT_USER = `INSERT INTO users (experiment_id, user_id, first_time, last_time, trace_count, session_count, error_count,
  input_tokens, output_tokens, total_tokens, cost_nanos)
  VALUES (@experiment_id, @user_id, @time, @time, 1, 0, @errors, @input_tokens, @output_tokens, @total_tokens, @cost)
  ON CONFLICT (experiment_id, user_id) DO UPDATE SET
    ${addCounters('users')},
    first_time = CASE WHEN @time < users.first_time THEN @time ELSE users.first_time END,
    last_time = CASE WHEN @time > users.last_time THEN @time ELSE users.last_time END`;
const UPSERT_HOUR = `INSERT INTO trace_hours (experiment_id, hour_start, latency_bin, shard, trace_count, error_count, input_tokens, output_tokens, total_tokens, cost_nanos)
  VALUES (@experiment_id, @hour_start, @latency_bin, @shard, 1, @errors, @input_tokens, @output_tokens, @total_tokens, @cost)
  ON CONFLICT (experiment_id, hour_start, latency_bin, shard) DO UPDATE SET
    ${addCounters('trace_hours')}`;
const LINK_SESSION_USER = `INSERT INTO session_users (experiment_id, session_id, user_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`;
const COUNT_SESSION_USER = `UPDATE sessions SET user_count = user_count + 1 WHERE experiment_id = ? AND session_id = ?`;
const COUNT_USER_SESSION = `UPDATE users SET session_count = session_count + 1 WHERE experiment_id = ? AND user_id = ?`;

/** Creates the server's schema in a new SQLite file by opening it once as the server does. */
export async function createSchema(path) {
  const store = await openSqliteStore({ path });
  await store.close();
}

/** Opens a raw connection with the pragmas of packages/server/src/store/sqlite/sqlite-store.ts. */
export function openRaw(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  db.pragma('case_sensitive_like = ON');
  return db;
}

/**
 * Prepared-statement writer of whole traces.
 * `writeEach` commits every trace in its own transaction (the server's durability unit: a trace
 * is committed before it is acknowledged); `writeBatched` commits `batchSize` traces at a time.
 */
export class RawWriter {
  constructor(path) {
    this.db = openRaw(path);
    const db = this.db;
    this.insertTrace = db.prepare(INSERT_TRACE);
    this.insertMetadata = db.prepare('INSERT INTO trace_metadata (trace_key, key, value) VALUES (?, ?, ?)');
    this.insertTag = db.prepare('INSERT INTO trace_tags (trace_key, key, value) VALUES (?, ?, ?)');
    this.insertSpan = db.prepare(INSERT_SPAN);
    this.insertCall = db.prepare(INSERT_CALL);
    this.upsertModelHour = db.prepare(UPSERT_MODEL_HOUR);
    this.upsertSession = db.prepare(UPSERT_SESSION);
    this.upsertUser = db.prepare(UPSERT_USER);
    this.upsertHour = db.prepare(UPSERT_HOUR);
    this.linkSessionUser = db.prepare(LINK_SESSION_USER);
    this.countSessionUser = db.prepare(COUNT_SESSION_USER);
    this.countUserSession = db.prepare(COUNT_USER_SESSION);
    this.oneInTx = db.transaction((rows) => this.write(rows));
    this.manyInTx = db.transaction((list) => {
      for (const rows of list) this.write(rows);
    });
  }

  /** @param {import('./rows.js').TraceRows} rows */
  write(rows) {
    const t = rows.trace;
    const { trace_key: traceKey } = this.insertTrace.get(t);
    for (const [key, value] of rows.metadata) this.insertMetadata.run(traceKey, key, value);
    for (const [key, value] of rows.tags) this.insertTag.run(traceKey, key, value);
    for (const span of rows.spans) this.insertSpan.run(traceKey, span);
    for (const call of rows.calls) this.insertCall.run(traceKey, call);
    const c = {
      experiment_id: t.experiment_id,
      trace_id: t.trace_id,
      time: t.request_time,
      end_time: Number(t.request_time) + Number(t.execution_duration ?? 0),
      errors: t.state === 'ERROR' ? 1 : 0,
      input_tokens: t.input_tokens ?? 0,
      output_tokens: t.output_tokens ?? 0,
      total_tokens: t.total_tokens ?? 0,
      cost: t.cost_nanos ?? 0,
      request_preview: t.request_preview,
      response_preview: t.response_preview,
    };
    if (t.session_id !== null) this.upsertSession.run({ ...c, session_id: t.session_id });
    if (t.user_id !== null) this.upsertUser.run({ ...c, user_id: t.user_id });
    if (t.session_id !== null && t.user_id !== null) {
      if (this.linkSessionUser.run(t.experiment_id, t.session_id, t.user_id).changes > 0) {
        this.countSessionUser.run(t.experiment_id, t.session_id);
        this.countUserSession.run(t.experiment_id, t.user_id);
      }
    }
    // Which hour, latency bin and shard: the server's own key function, not a copy of it.
    const hour = traceHourKey({
      experimentId: t.experiment_id,
      traceId: t.trace_id,
      requestTime: Number(t.request_time),
      durationMs: t.execution_duration === null ? null : Number(t.execution_duration),
    });
    this.upsertHour.run({ ...c, ...hour });
    for (const call of rows.calls) {
      if (!call.counted) continue;
      const unpriced = call.cost_source === null ? 1 : 0;
      this.upsertModelHour.run({ experiment_id: call.experiment_id, hour_start: call.hour_start, model: call.model, unpriced, input_tokens: call.input_tokens, output_tokens: call.output_tokens, cost: call.cost_nanos ?? 0 });
    }
  }

  /** One transaction per trace. */
  writeEach(list) {
    for (const rows of list) this.oneInTx(rows);
  }

  /** `batchSize` traces per transaction. */
  writeBatched(list, batchSize) {
    for (let i = 0; i < list.length; i += batchSize) this.manyInTx(list.slice(i, i + batchSize));
  }

  close() {
    this.db.close();
  }
}
