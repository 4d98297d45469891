/**
 * Checks that two databases hold exactly the same trace rows: every table the ingest path writes,
 * read in primary-key order and hashed.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';

/**
 * Columns left out: the server's own pointers, which the raw writers (which keep no text index)
 * cannot repeat, and the traces' numbers, which follow the order the server took them in (32
 * at a time) where the raw writers take them one by one.
 */
const UNCOMPARED = { spans: new Set(['text_doc']), traces: new Set(['trace_key']) };

/** Tables keyed by a trace's number: compared by its id instead. */
const BY_TRACE_KEY = new Set(['trace_metadata', 'trace_tags', 'spans', 'llm_calls']);

const TABLES = {
  traces: 'trace_id',
  trace_metadata: 'trace_id, key',
  trace_tags: 'trace_id, key',
  spans: 'trace_id, span_id',
  sessions: 'experiment_id, session_id',
  users: 'experiment_id, user_id',
  session_users: 'experiment_id, user_id, session_id',
  trace_hours: 'experiment_id, hour_start, latency_bin, shard',
  llm_calls: 'trace_id, span_id',
  model_hours: 'experiment_id, hour_start, model',
};

/** Row count and content hash of each table. */
export function tableDigests(path) {
  const db = new Database(path, { readonly: true });
  try {
    const out = {};
    for (const [table, key] of Object.entries(TABLES)) {
      const hash = createHash('sha256');
      let rows = 0;
      const skip = UNCOMPARED[table];
      const columns = db
        .prepare(`SELECT name FROM pragma_table_info(?) ORDER BY cid`)
        .all(table)
        .map((c) => c.name)
        .filter((c) => !skip?.has(c));
      const query = BY_TRACE_KEY.has(table)
        ? `SELECT t.trace_id, ${columns.filter((c) => c !== 'trace_key').map((c) => `r.${c}`).join(', ')} FROM ${table} AS r JOIN traces AS t ON t.trace_key = r.trace_key ORDER BY ${key.replace('trace_id', 't.trace_id').replace(', ', ', r.')}`
        : `SELECT ${columns.join(', ')} FROM ${table} ORDER BY ${key}`;
      for (const row of db.prepare(query).raw().iterate()) {
        hash.update(JSON.stringify(row));
        hash.update('\n');
        rows++;
      }
      out[table] = { rows, sha256: hash.digest('hex').slice(0, 16) };
    }
    return out;
  } finally {
    db.close();
  }
}

/** Tables whose rows differ between two digests, with both sides. */
export function differences(a, b) {
  return Object.keys(a).filter((t) => a[t].rows !== b[t].rows || a[t].sha256 !== b[t].sha256).map((t) => ({ table: t, a: a[t], b: b[t] }));
}
