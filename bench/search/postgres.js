/**
 * bench/search on PostgreSQL: the SQLite dataset copied into a PostgreSQL schema the server's own
 * migrations created, and the hand-written side of each query in PostgreSQL's SQL.
 *
 * The copy is kept under a schema named after the SQLite file (which names its sizes and
 * generator), so re-runs skip it. A cached copy is first brought up to date by the server's
 * migrations; its feedback tables are copied again when the SQLite file's feedback version
 * (feedback.js) is not the copy's, and what the cost changed (cost.js: the traces and their
 * rollups, the LLM spans, the calls and model_hours) when its cost version is not. Secondary
 * indexes are dropped for a load and rebuilt after it, then ANALYZE runs, as autovacuum would have
 * done on a live database.
 */
import { basename } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openPostgresStore } from '../../packages/server/dist/index.js';
import { storedSpanAttributes } from '../../packages/server/dist/store/spans.js';
import { searchableWords } from '../../packages/server/dist/text-search/span-text.js';
import { COST_VERSION } from './cost.js';
import { FEEDBACK_VERSION } from './feedback.js';
import { TEXT_VERSION } from './text.js';
import { ASSESSMENTS, ASSESSMENTS_ORDER, assembleTraces, pricedIds } from './queries.js';
import { continueTraceKeys } from '../lib/postgres-schema.js';

/** Tables in load order, each with the columns its rows are read from SQLite in (and which rows). */
const TABLES = [
  ['experiments', 'experiment_id'],
  ['experiment_tags', 'experiment_id, key'],
  ['traces', 'trace_id'],
  ['trace_metadata', 'trace_key, key'],
  ['trace_tags', 'trace_key, key'],
  ['spans', 'trace_key, span_id'],
  ['sessions', 'experiment_id, session_id'],
  ['users', 'experiment_id, user_id'],
  ['session_users', 'experiment_id, session_id, user_id'],
  ['trace_hours', 'experiment_id, hour_start, latency_bin, shard'],
  ['user_hours', 'experiment_id, hour_start, user_id'],
  ['session_hours', 'experiment_id, hour_start, session_id'],
];
/** The feedback tables, copied with the rest and again when the feedback's version changes. */
const FEEDBACK_TABLES = [
  ['assessments', 'assessment_id'],
  ['feedback_rollups', 'experiment_id, scope, key, name'],
];
/** The cost's own tables, copied with the rest. */
const COST_TABLES = [
  ['llm_calls', 'trace_key, span_id'],
  ['model_hours', 'experiment_id, hour_start, model'],
];
/** What the cost changes or adds, copied again when the cost's version changes: its tables, the rows it priced and the LLM spans. */
const COST_CHANGES = [
  ['traces', 'trace_id'],
  ['sessions', 'experiment_id, session_id'],
  ['users', 'experiment_id, user_id'],
  ['trace_hours', 'experiment_id, hour_start, latency_bin, shard'],
  ['spans', 'trace_key, span_id', "type = 'LLM'"],
  ...COST_TABLES,
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
      // The server's migrations first: a copy made before one gains its tables and columns.
      const store = await openPostgresStore({ connectionString: url, schema });
      await store.close();
      await client.query(`SET search_path TO ${schema}`);
      // Copies made before the feedback, or the cost, have no column for its version.
      const versions = (
        await client.query(`SELECT (to_jsonb(b) ->> 'version')::int AS feedback, (to_jsonb(b) ->> 'cost_version')::int AS cost, (to_jsonb(b) ->> 'text_version')::int AS text FROM bench_loaded AS b`)
      ).rows[0];
      if (versions?.feedback === FEEDBACK_VERSION && versions?.cost === COST_VERSION && versions?.text === TEXT_VERSION) {
        log(`postgres: cached schema ${schema}`);
        return { schema, loadSeconds: undefined };
      }
      const started = performance.now();
      if (versions?.feedback !== FEEDBACK_VERSION) {
        // A copy made before this version of the feedback: only the feedback tables are copied again.
        await client.query(`TRUNCATE ${FEEDBACK_TABLES.map(([table]) => table).join(', ')}`);
        await copyTables(client, sqlite, schema, FEEDBACK_TABLES, log);
        await client.query(`ALTER TABLE bench_loaded ADD COLUMN IF NOT EXISTS version integer`);
        await client.query(`UPDATE bench_loaded SET version = $1`, [FEEDBACK_VERSION]);
        log(`postgres: feedback copied again`);
      }
      if (versions?.cost !== COST_VERSION) {
        // Before this version of the cost: what it changed is copied again, the spans' LLM ones only.
        for (const [table, , where] of COST_CHANGES) await client.query(where ? `DELETE FROM ${table} WHERE ${where}` : `TRUNCATE ${table}`);
        await copyTables(client, sqlite, schema, COST_CHANGES, log);
        // The deleted spans' space, as autovacuum would reclaim it.
        await client.query('VACUUM ANALYZE spans');
        await client.query(`ALTER TABLE bench_loaded ADD COLUMN IF NOT EXISTS cost_version integer`);
        await client.query(`UPDATE bench_loaded SET cost_version = $1`, [COST_VERSION]);
        log(`postgres: cost copied again`);
      }
      if (versions?.text !== TEXT_VERSION) {
        // Before this version of the text: the root spans that carry it, and the text index.
        await client.query('DELETE FROM spans WHERE parent_span_id IS NULL');
        await copyTables(client, sqlite, schema, [['spans', 'trace_key, span_id', 'parent_span_id IS NULL']], log);
        await client.query('VACUUM ANALYZE spans');
        await copyText(client, sqlite, log);
        await client.query(`ALTER TABLE bench_loaded ADD COLUMN IF NOT EXISTS text_version integer`);
        await client.query(`UPDATE bench_loaded SET text_version = $1`, [TEXT_VERSION]);
        log(`postgres: text copied again`);
      }
      log(`postgres: cached schema ${schema}, brought up to date in ${((performance.now() - started) / 1000).toFixed(0)} s`);
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
    await copyTables(client, sqlite, schema, [...TABLES, ...FEEDBACK_TABLES, ...COST_TABLES], log);
    await copyText(client, sqlite, log);
    await client.query('CREATE TABLE bench_loaded (at timestamptz DEFAULT now(), version integer, cost_version integer, text_version integer)');
    await client.query('INSERT INTO bench_loaded (version, cost_version, text_version) VALUES ($1, $2, $3)', [FEEDBACK_VERSION, COST_VERSION, TEXT_VERSION]);
    const loadSeconds = (performance.now() - started) / 1000;
    log(`postgres: loaded schema ${schema} in ${loadSeconds.toFixed(0)} s`);
    return { schema, loadSeconds };
  } finally {
    sqlite.close();
    await client.end();
  }
}

/**
 * Copies `tables` (empty in `schema`, the client's search_path, or of the rows their third item
 * selects) from SQLite, their secondary indexes dropped for the load and rebuilt after it, then
 * ANALYZEs them.
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
  for (const [table, order, where] of tables) {
    const columns = (
      await client.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`, [schema, table])
    ).rows;
    const names = columns.map((c) => `"${c.column_name}"`).join(', ');
    const insert = `INSERT INTO ${table} (${names}) SELECT * FROM unnest(${columns.map((c, i) => `$${i + 1}::${ARRAY_TYPES[c.data_type] ?? 'text[]'}`).join(', ')})`;
    const read = sqlite.prepare(`SELECT ${columns.map((c) => `"${c.column_name}"`).join(', ')} FROM ${table}${where ? ` WHERE ${where}` : ''} ORDER BY ${order}`).raw();
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
  if (tables.some(([table]) => table === 'traces')) await continueTraceKeys(client, schema);
  // VACUUM too, as autovacuum would: index-only scans then skip the heap (the visibility map is set).
  await client.query(`VACUUM ANALYZE ${tables.map(([table]) => table).join(', ')}`);
}

/**
 * The text index: SQLite's documents (their words as text.js and the server wrote them) as
 * PostgreSQL's dialect stores them, a tsvector each (`traceText.insert`), its GIN index rebuilt
 * after the load.
 */
async function copyText(client, sqlite, log) {
  await client.query('TRUNCATE trace_text_docs');
  await client.query('DROP INDEX IF EXISTS trace_text_docs_words');
  await client.query('DROP INDEX IF EXISTS trace_text_docs_trace');
  // SQLite keeps no document's words outside its index: they are read again from the spans that
  // name the document, in span id order, as the server does to delete one.
  const read = sqlite
    .prepare('SELECT d.doc_id, d.trace_key, s.content FROM trace_text_docs AS d JOIN spans AS s ON s.trace_key = d.trace_key AND s.text_doc = d.doc_id ORDER BY d.doc_id, s.span_id')
    .raw();
  let keys = [];
  let words = [];
  let rows = 0;
  const flush = async () => {
    if (keys.length > 0) await client.query(`INSERT INTO trace_text_docs (trace_key, words) SELECT k, to_tsvector('simple', w) FROM unnest($1::bigint[], $2::text[]) AS u(k, w)`, [keys, words]);
    keys = [];
    words = [];
  };
  await client.query('BEGIN');
  let doc = { id: undefined, traceKey: 0, spans: [] };
  const take = async () => {
    if (doc.id === undefined) return;
    keys.push(doc.traceKey);
    words.push(searchableWords(doc.spans));
    if (++rows % BATCH === 0) await flush();
  };
  for (const [docId, traceKey, content] of read.iterate()) {
    if (docId !== doc.id) {
      await take();
      doc = { id: docId, traceKey, spans: [] };
    }
    doc.spans.push({ attributes: storedSpanAttributes(content) });
  }
  await take();
  await flush();
  await client.query('COMMIT');
  await client.query('CREATE INDEX trace_text_docs_words ON trace_text_docs USING gin (words)');
  await client.query('CREATE INDEX trace_text_docs_trace ON trace_text_docs (trace_key)');
  await client.query('ANALYZE trace_text_docs');
  log(`postgres: copied ${rows.toLocaleString('en-US')} text documents`);
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
  costliestUsers(experimentId) {
    return this.rows('costliest-users', `SELECT * FROM users WHERE experiment_id = $1 ORDER BY cost_nanos DESC, last_time DESC, user_id ASC LIMIT 50`, [experimentId]);
  }
  costliestSessions(experimentId) {
    return this.rows('costliest-sessions', `SELECT * FROM sessions WHERE experiment_id = $1 ORDER BY cost_nanos DESC, last_time DESC, session_id ASC LIMIT 50`, [experimentId]);
  }
  // Word search, written knowing how often the word comes, as SqliteHand: a rare word's few
  // documents first (a materialized CTE, so that the planner cannot walk every trace instead), a
  // common word checked per trace while the time index is walked.
  wordTraces(experimentId, word, common) {
    return common
      ? this.rows(
          'common-word-traces',
          `SELECT t.trace_id FROM traces AS t WHERE t.experiment_id = $1 AND EXISTS (SELECT 1 FROM trace_text_docs AS d WHERE d.trace_key = t.trace_key AND d.words @@ to_tsquery('simple', $2))
            ORDER BY t.request_time DESC, t.trace_id ASC LIMIT 50`,
          [experimentId, `${word}:*`],
        )
      : this.rows(
          'rare-word-traces',
          `WITH m AS MATERIALIZED (SELECT d.trace_key FROM trace_text_docs AS d WHERE d.words @@ to_tsquery('simple', $2))
            SELECT t.trace_id FROM traces AS t WHERE t.experiment_id = $1 AND t.trace_key IN (SELECT trace_key FROM m) ORDER BY t.request_time DESC, t.trace_id ASC LIMIT 50`,
          [experimentId, `${word}:*`],
        );
  }
  commonWordSessions(experimentId, word) {
    return this.rows(
      'common-word-sessions',
      `SELECT s.* FROM sessions AS s WHERE s.experiment_id = $1 AND EXISTS (SELECT 1 FROM traces AS t WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id
        AND EXISTS (SELECT 1 FROM trace_text_docs AS d WHERE d.trace_key = t.trace_key AND d.words @@ to_tsquery('simple', $2)))
        ORDER BY s.last_time DESC, s.session_id ASC LIMIT 50`,
      [experimentId, `${word}:*`],
    );
  }
  tagLike(experimentId) {
    return this.rows(
      'tag-like',
      `SELECT t.trace_id FROM traces AS t WHERE t.experiment_id = $1
       AND EXISTS (SELECT 1 FROM trace_tags AS kv WHERE kv.trace_key = t.trace_key AND kv.key = 'x' AND kv.value LIKE 'abc%')
       ORDER BY t.request_time DESC, t.trace_id ASC LIMIT 100`,
      [experimentId],
    );
  }

  async loadTraces(ids) {
    if (ids.length === 0) return [];
    const [rows, metadata, tags, assessments] = await Promise.all([
      this.rows('load-rows', 'SELECT * FROM traces WHERE trace_id = ANY($1::text[])', [ids]),
      this.rows('load-metadata', 'SELECT t.trace_id, kv.key, kv.value FROM trace_metadata AS kv JOIN traces AS t ON t.trace_key = kv.trace_key WHERE t.trace_id = ANY($1::text[])', [ids]),
      this.rows('load-tags', 'SELECT t.trace_id, kv.key, kv.value FROM trace_tags AS kv JOIN traces AS t ON t.trace_key = kv.trace_key WHERE t.trace_id = ANY($1::text[])', [ids]),
      this.rows('load-assessments', `${ASSESSMENTS} = ANY($1::text[]) ${ASSESSMENTS_ORDER}`, [ids]),
    ]);
    // The calls of the traces that have a cost, after their rows, as the store reads them.
    const priced = pricedIds(rows);
    const calls = priced.length === 0 ? [] : await this.rows('load-calls', 'SELECT c.*, t.trace_id FROM llm_calls AS c JOIN traces AS t ON t.trace_key = c.trace_key WHERE t.trace_id = ANY($1::text[])', [priced]);
    return assembleTraces(ids, rows, metadata, tags, assessments, calls);
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
