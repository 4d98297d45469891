import { sql, type Kysely } from 'kysely';
import { columnNames, KEYED_TABLES } from '../../src/store/migrations/016-span-keys.js';

/**
 * Takes a database back to before migration 015 (trace keys), its rows kept: metadata, tags,
 * spans, LLM calls and text documents keyed by trace id again (017 and 016 undone first), traces
 * without their key. For tests of migrations that ran before them, which take a database back
 * further and run the migrations again.
 */
export async function undoTraceKeys(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  await undoTextDocumentKeys(db, dialect);
  await undoSpanKeys(db, dialect);
  for (const table of ['trace_metadata', 'trace_tags']) {
    const t = sql.table(table);
    if (dialect === 'postgres') {
      // In place, as 015 changed it: back to the primary key and index of migration 001.
      await keyPostgresTableById(db, table, 'key');
      continue;
    }
    const byId = sql.table(`${table}_by_id`);
    await sql`CREATE TABLE ${byId} (trace_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (trace_id, key))`.execute(db);
    await sql`INSERT INTO ${byId} SELECT tr.trace_id, kv.key, kv.value FROM ${t} AS kv JOIN traces AS tr ON tr.trace_key = kv.trace_key`.execute(db);
    await sql`DROP TABLE ${t}`.execute(db);
    await sql`ALTER TABLE ${byId} RENAME TO ${t}`.execute(db);
  }
  if (dialect === 'postgres') await sql`CREATE INDEX trace_tags_key ON trace_tags (key, trace_id)`.execute(db);
  else await sql`DROP TRIGGER traces_trace_key`.execute(db);
  await sql`DROP INDEX traces_trace_key`.execute(db);
  await sql`ALTER TABLE traces DROP COLUMN trace_key`.execute(db);
  await sql`DELETE FROM threadline_migrations WHERE name = '015-trace-keys'`.execute(db);
}

/** Migration 016 undone: spans and LLM calls keyed by (trace_id, span_id) again. */
async function undoSpanKeys(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  for (const table of Object.keys(KEYED_TABLES) as (keyof typeof KEYED_TABLES)[]) {
    const t = sql.table(table);
    if (dialect === 'postgres') {
      await keyPostgresTableById(db, table, 'span_id');
      continue;
    }
    const byId = sql.table(`${table}_by_id`);
    const columns = columnNames(table).map((c) => sql.ref(c));
    await sql`CREATE TABLE ${byId} (trace_id TEXT NOT NULL, ${sql.raw(KEYED_TABLES[table])}, PRIMARY KEY (trace_id, span_id))`.execute(db);
    await sql`INSERT INTO ${byId} (trace_id, ${sql.join(columns)})
      SELECT tr.trace_id, ${sql.join(columnNames(table).map((c) => sql.ref(`r.${c}`)))} FROM ${t} AS r JOIN traces AS tr ON tr.trace_key = r.trace_key`.execute(db);
    await sql`DROP TABLE ${t}`.execute(db);
    await sql`ALTER TABLE ${byId} RENAME TO ${t}`.execute(db);
  }
  await sql`DELETE FROM threadline_migrations WHERE name = '016-span-keys'`.execute(db);
}

/** PostgreSQL, in place: a table keyed by (trace_key, `rest`) keyed by (trace_id, `rest`) again. */
async function keyPostgresTableById(db: Kysely<unknown>, table: string, rest: string): Promise<void> {
  const t = sql.table(table);
  await sql`ALTER TABLE ${t} ADD COLUMN trace_id TEXT`.execute(db);
  await sql`UPDATE ${t} AS r SET trace_id = tr.trace_id FROM traces AS tr WHERE tr.trace_key = r.trace_key`.execute(db);
  await sql`ALTER TABLE ${t} DROP CONSTRAINT ${sql.ref(`${table}_pk`)}`.execute(db);
  await sql`ALTER TABLE ${t} DROP COLUMN trace_key`.execute(db);
  await sql`ALTER TABLE ${t} ALTER COLUMN trace_id SET NOT NULL`.execute(db);
  await sql`ALTER TABLE ${t} ADD CONSTRAINT ${sql.ref(`${table}_pk`)} PRIMARY KEY (trace_id, ${sql.ref(rest)})`.execute(db);
}

/** Migration 017 undone: text documents name their trace by its id again, indexed by it. */
async function undoTextDocumentKeys(db: Kysely<unknown>, dialect: 'sqlite' | 'postgres'): Promise<void> {
  await sql`DROP INDEX trace_text_docs_trace`.execute(db);
  if (dialect === 'postgres') {
    await sql`ALTER TABLE trace_text_docs ADD COLUMN trace_id TEXT`.execute(db);
    await sql`UPDATE trace_text_docs AS d SET trace_id = tr.trace_id FROM traces AS tr WHERE tr.trace_key = d.trace_key`.execute(db);
    await sql`ALTER TABLE trace_text_docs DROP COLUMN trace_key`.execute(db);
    await sql`ALTER TABLE trace_text_docs ALTER COLUMN trace_id SET NOT NULL`.execute(db);
  } else {
    await sql`CREATE TABLE trace_text_docs_by_id (doc_id INTEGER PRIMARY KEY, trace_id TEXT NOT NULL, words TEXT NOT NULL, words_hash INTEGER)`.execute(db);
    await sql`INSERT INTO trace_text_docs_by_id SELECT d.doc_id, tr.trace_id, d.words, d.words_hash FROM trace_text_docs AS d JOIN traces AS tr ON tr.trace_key = d.trace_key`.execute(db);
    await sql`DROP TABLE trace_text_docs`.execute(db);
    await sql`ALTER TABLE trace_text_docs_by_id RENAME TO trace_text_docs`.execute(db);
  }
  await sql`CREATE INDEX trace_text_docs_trace ON trace_text_docs (trace_id)`.execute(db);
  await sql`DELETE FROM threadline_migrations WHERE name = '017-text-document-keys'`.execute(db);
}
