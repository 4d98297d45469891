/**
 * bench/search on PostgreSQL: the SQLite dataset copied into a PostgreSQL schema the server's own
 * migrations created, and the hand-written side of each query in PostgreSQL's SQL.
 *
 * The copy is kept under a schema named after the SQLite file (which names its sizes, schema and
 * generator), so re-runs skip it; its feedback tables are copied again when the SQLite file's
 * feedback version (feedback.js) is not the copy's. Secondary indexes are dropped for the load and
 * rebuilt after it, then ANALYZE runs, as autovacuum would have done on a live database.
 */
import { basename } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openPostgresStore } from '../../packages/server/dist/index.js';
import { FEEDBACK_VERSION } from './feedback.js';
import { ASSESSMENTS, ASSESSMENTS_ORDER, assembleTraces } from './queries.js';

/** Tables in load order, each with the column its rows are read from SQLite in. */
const TABLES = [
  ['experiments', 'experiment_id'],
  ['experiment_tags', 'experiment_id, key'],
  ['traces', 'trace_id'],
  ['trace_metadata', 'trace_id, key'],
  ['trace_tags', 'trace_id, key'],
  ['spans', 'trace_id, span_id'],
  ['sessions', 'experiment_id, session_id'],
  ['users', 'experiment_id, user_id'],
  ['session_users', 'experiment_id, session_id, user_id'],
  ['trace_hours', 'experiment_id, hour_start, latency_bin, shard'],
];
/** The feedback tables, copied with the rest and again when the feedback's version changes. */
const FEEDBACK_TABLES = [
  ['assessments', 'assessment_id'],
  ['feedback_rollups', 'experiment_id, scope, key, name'],
];
const BATCH = 5_000;
const ARRAY_TYPES = { bigint: 'bigint[]', integer: 'int[]', text: 'text[]', 'double precision': 'float8[]' };

/** Whether a PostgreSQL server answers at `url`. */
export async function postgresReachable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * The dataset of `sqlitePath` in a PostgreSQL schema of `url`, copied if not there yet.
 * @returns {Promise<{ schema: string, loadSeconds: number | undefined }>}
 */
export async function ensurePostgresCopy({ sqlitePath, url, log }) {
  const schema = `bench_${basename(sqlitePath, '.db').replace(/[^a-z0-9]/gi, '_').toLowerCase()}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const sqlite = new Database(sqlitePath, { readonly: true });
  try {
    const done = await client.query(`SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'bench_loaded'`, [schema]);
    if (done.rowCount > 0) {
      await client.query(`SET search_path TO ${schema}`);
      // Copies made before the feedback have no version column.
      const feedback = await client.query(`SELECT (to_jsonb(b) ->> 'version')::int AS version FROM bench_loaded AS b`);
      if (feedback.rows[0]?.version === FEEDBACK_VERSION) {
        log(`postgres: cached schema ${schema}`);
        return { schema, loadSeconds: undefined };
      }
      // A copy made before this version of the feedback: only the feedback tables are copied again.
      const started = performance.now();
      await client.query(`TRUNCATE ${FEEDBACK_TABLES.map(([table]) => table).join(', ')}`);
      await copyTables(client, sqlite, schema, FEEDBACK_TABLES, log);
      await client.query(`ALTER TABLE bench_loaded ADD COLUMN IF NOT EXISTS version integer`);
      await client.query(`UPDATE bench_loaded SET version = $1`, [FEEDBACK_VERSION]);
      log(`postgres: cached schema ${schema}, feedback copied again in ${((performance.now() - started) / 1000).toFixed(0)} s`);
      return { schema, loadSeconds: undefined };
    }
    const started = performance.now();
    // Older copies of the same size (another schema or generator) go: they only take space.
    const sameSize = `${schema.slice(0, schema.lastIndexOf('_')).replace(/_/g, '\\_')}\\_%`;
    for (const { nspname } of (await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE $1`, [sameSize])).rows) {
      await client.query(`DROP SCHEMA "${nspname}" CASCADE`);
    }
    const store = await openPostgresStore({ connectionString: url, schema });
    await store.close();
    await client.query(`SET search_path TO ${schema}`);
    // The migrations' own rows (the Default experiment) make way for the copied ones.
    await client.query('DELETE FROM experiment_tags; DELETE FROM experiments');
    await copyTables(client, sqlite, schema, [...TABLES, ...FEEDBACK_TABLES], log);
    await client.query('CREATE TABLE bench_loaded (at timestamptz DEFAULT now(), version integer)');
    await client.query('INSERT INTO bench_loaded (version) VALUES ($1)', [FEEDBACK_VERSION]);
    const loadSeconds = (performance.now() - started) / 1000;
    log(`postgres: loaded schema ${schema} in ${loadSeconds.toFixed(0)} s`);
    return { schema, loadSeconds };
  } finally {
    sqlite.close();
    await client.end();
  }
}

/**
 * Copies `tables` (empty in `schema`, the client's search_path) from SQLite, their secondary
 * indexes dropped for the load and rebuilt after it, then ANALYZEs them.
 */
async function copyTables(client, sqlite, schema, tables, log) {
  const indexes = (
    await client.query(
      `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND t.relname = ANY($2::text[]) AND NOT i.indisprimary AND NOT i.indisunique`,
      [schema, tables.map(([table]) => table)],
    )
  ).rows;
  for (const index of indexes) await client.query(`DROP INDEX "${index.name}"`);
  for (const [table, order] of tables) {
    const columns = (
      await client.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, [schema, table])
    ).rows;
    const names = columns.map((c) => `"${c.column_name}"`).join(', ');
    const insert = `INSERT INTO ${table} (${names}) SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${ARRAY_TYPES[c.data_type] ?? 'text[]'}`).join(', ')})`;
    const read = sqlite.prepare(`SELECT ${columns.map((c) => `"${c.column_name}"`).join(', ')} FROM ${table} ORDER BY ${order}`).raw();
    let batch = columns.map(() => []);
    let rows = 0;
    const flush = async () => {
      if (batch[0].length > 0) await client.query(insert, batch);
      batch = columns.map(() => []);
    };
    await client.query('BEGIN');
    for (const row of read.iterate()) {
      for (let c = 0; c < row.length; c++) batch[c].push(typeof row[c] === 'bigint' ? String(row[c]) : row[c]);
      if (++rows % BATCH === 0) await flush();
      if (rows % 1_000_000 === 0) log(`  ${table}: ${rows.toLocaleString('en-US')} rows`);
    }
    await flush();
    await client.query('COMMIT');
    log(`postgres: copied ${rows.toLocaleString('en-US')} rows of ${table}`);
  }
  for (const index of indexes) await client.query(index.def);
  await client.query(`ANALYZE ${tables.map(([table]) => table).join(', ')}`);
}

/** The hand-written side on PostgreSQL: the same queries as SqliteHand, as named prepared statements. */
export class PostgresHand {
  constructor(pool) {
    this.pool = pool;
  }

  async rows(name, text, values) {
    return (await this.pool.query({ name, text, values })).rows;
  }

  userTraces(experimentId, user) {
    return this.rows('user-traces', `SELECT trace_id FROM traces WHERE experiment_id = $1 AND user_id = $2 ORDER BY request_time DESC, trace_id ASC LIMIT 100`, [experimentId, user]);
  }
  sessionTraces(experimentId, session) {
    return this.rows('session-traces', `SELECT trace_id FROM traces WHERE experiment_id = $1 AND session_id = $2 ORDER BY request_time ASC, trace_id ASC LIMIT 100`, [experimentId, session]);
  }
  newestSessions(experimentId) {
    return this.rows('newest-sessions', `SELECT * FROM sessions WHERE experiment_id = $1 ORDER BY last_time DESC, session_id ASC LIMIT 50`, [experimentId]);
  }
  negativeSessions(experimentId, name) {
    return this.rows(
      'negative-sessions',
      `SELECT s.* FROM sessions AS s WHERE s.experiment_id = $1
       AND EXISTS (SELECT 1 FROM feedback_rollups AS f WHERE f.experiment_id = s.experiment_id AND f.scope = 'session' AND f.key = s.session_id
         AND f.name = $2 AND f.false_count > 0)
       ORDER BY s.last_time DESC, s.session_id ASC LIMIT 50`,
      [experimentId, name],
    );
  }
  feedback(experimentId, scope, keys) {
    return this.rows(
      'feedback',
      `SELECT key, name, count, true_count, false_count, numeric_count, numeric_sum FROM feedback_rollups
       WHERE experiment_id = $1 AND scope = $2 AND key = ANY($3::text[]) AND count > 0 ORDER BY key, name`,
      [experimentId, scope, keys],
    );
  }
  sessionUsers(experimentId, sessionIds) {
    return this.rows('session-users', `SELECT session_id, user_id FROM session_users WHERE experiment_id = $1 AND session_id = ANY($2::text[]) ORDER BY session_id, user_id`, [experimentId, sessionIds]);
  }
  topUsers(experimentId) {
    return this.rows('top-users', `SELECT * FROM users WHERE experiment_id = $1 ORDER BY trace_count DESC, last_time DESC, user_id ASC LIMIT 50`, [experimentId]);
  }
  tagLike(experimentId) {
    return this.rows(
      'tag-like',
      `SELECT t.trace_id FROM traces AS t WHERE t.experiment_id = $1
       AND EXISTS (SELECT 1 FROM trace_tags AS kv WHERE kv.trace_id = t.trace_id AND kv.key = 'x' AND kv.value LIKE 'abc%')
       ORDER BY t.request_time DESC, t.trace_id ASC LIMIT 100`,
      [experimentId],
    );
  }

  async loadTraces(ids) {
    if (ids.length === 0) return [];
    const [rows, metadata, tags, assessments] = await Promise.all([
      this.rows('load-rows', 'SELECT * FROM traces WHERE trace_id = ANY($1::text[])', [ids]),
      this.rows('load-metadata', 'SELECT trace_id, key, value FROM trace_metadata WHERE trace_id = ANY($1::text[])', [ids]),
      this.rows('load-tags', 'SELECT trace_id, key, value FROM trace_tags WHERE trace_id = ANY($1::text[])', [ids]),
      this.rows('load-assessments', `${ASSESSMENTS} = ANY($1::text[]) ${ASSESSMENTS_ORDER}`, [ids]),
    ]);
    return assembleTraces(ids, rows, metadata, tags, assessments);
  }
}

/** A pool on the copy's schema, with the server's connection count and bigint parsing. */
export function handPool(url, schema) {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    options: `-c search_path=${schema}`,
    types: { getTypeParser: (oid, format) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) },
  });
  pool.on('error', () => {});
  return pool;
}
