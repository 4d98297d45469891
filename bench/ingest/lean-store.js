/**
 * The lean floor (issue 16): the same content as the server stores, written once, in the least a
 * store needs to answer the seed's questions (a trace by id, the newest traces, a user's, a
 * session's, a trace's metadata and spans): one trace row with its user and session, its
 * metadata, one row per span with the server's exact span JSON, and only the indexes those
 * questions need. No tags, rollups, cost or text index: what a schema costs beyond this shows as
 * the distance between it and the server.
 */
import Database from 'better-sqlite3';

const SCHEMA = `
  CREATE TABLE traces (trace_id TEXT PRIMARY KEY, experiment_id INTEGER NOT NULL, request_time INTEGER NOT NULL,
    execution_duration INTEGER, state TEXT NOT NULL, user_id TEXT, session_id TEXT, request_preview TEXT, response_preview TEXT);
  CREATE INDEX traces_exp_time ON traces (experiment_id, request_time);
  CREATE INDEX traces_exp_user_time ON traces (experiment_id, user_id, request_time);
  CREATE INDEX traces_exp_session_time ON traces (experiment_id, session_id, request_time);
  CREATE TABLE trace_metadata (trace_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (trace_id, key)) WITHOUT ROWID;
  CREATE TABLE spans (trace_id TEXT NOT NULL, span_id TEXT NOT NULL, content TEXT NOT NULL, PRIMARY KEY (trace_id, span_id));
`;

export class LeanWriter {
  /** A new database at `path`, with the server's pragmas (WAL, synchronous=NORMAL). */
  constructor(path) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.insertTrace = this.db.prepare(`INSERT INTO traces (trace_id, experiment_id, request_time, execution_duration, state, user_id, session_id, request_preview, response_preview)
      VALUES (@trace_id, @experiment_id, @request_time, @execution_duration, @state, @user_id, @session_id, @request_preview, @response_preview)`);
    this.insertMetadata = this.db.prepare('INSERT INTO trace_metadata (trace_id, key, value) VALUES (?, ?, ?)');
    this.insertSpan = this.db.prepare('INSERT INTO spans (trace_id, span_id, content) VALUES (?, ?, ?)');
    this.oneInTx = this.db.transaction((rows) => this.write(rows));
  }

  /** @param {import('./rows.js').TraceRows} rows */
  write(rows) {
    const t = rows.trace;
    this.insertTrace.run({
      trace_id: t.trace_id,
      experiment_id: t.experiment_id,
      request_time: t.request_time,
      execution_duration: t.execution_duration,
      state: t.state,
      user_id: t.user_id,
      session_id: t.session_id,
      request_preview: t.request_preview,
      response_preview: t.response_preview,
    });
    for (const [key, value] of rows.metadata) this.insertMetadata.run(t.trace_id, key, value);
    for (const span of rows.spans) this.insertSpan.run(t.trace_id, span.span_id, span.content);
  }

  /** One transaction per trace: the durability unit of the server, which commits a trace before it answers. */
  writeEach(list) {
    for (const rows of list) this.oneInTx(rows);
  }

  close() {
    this.db.close();
  }
}
