import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * The text index of trace content (`trace.text MATCH 'refund'`; store/trace-text.ts): one document
 * per upload of a trace's spans, holding the words of their inputs and outputs (text-search/).
 * A trace's words may so lie in several documents; a search for several words asks for each
 * separately and keeps the traces that have them all.
 *
 * - SQLite: `trace_text_docs` holds each document's words under a number of its own (an INTEGER
 *   PRIMARY KEY, which VACUUM keeps, unlike the rowids of traces and spans); `trace_text_index` is
 *   an FTS5 index over them as its external content. `secure-delete` takes a deleted document's
 *   words out of the index at once: an erased user's words must not linger in the file until
 *   the index is next merged. (A contentless table with `contentless_delete` would not store the
 *   words twice, but leaves them in the index behind tombstones: a test of the erase found them.)
 * - PostgreSQL: `trace_text_docs` holds each document's tsvector, under a GIN index.
 *
 * Traces stored before this migration are not found by word search until `threadline
 * reindex-text` indexes them.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  if (ctx.dialect === 'sqlite') {
    await db.schema
      .createTable('trace_text_docs')
      .addColumn('doc_id', 'integer', (c) => c.primaryKey())
      .addColumn('trace_id', 'text', (c) => c.notNull())
      .addColumn('words', 'text', (c) => c.notNull())
      .execute();
    await sql`CREATE VIRTUAL TABLE trace_text_index USING fts5(words, content='trace_text_docs', content_rowid='doc_id', tokenize='unicode61 remove_diacritics 2')`.execute(db);
    await sql`INSERT INTO trace_text_index (trace_text_index, rank) VALUES ('secure-delete', 1)`.execute(db);
  } else {
    await db.schema
      .createTable('trace_text_docs')
      .addColumn('trace_id', 'text', (c) => c.notNull())
      .addColumn('words', sql`tsvector`, (c) => c.notNull())
      .execute();
    await sql`CREATE INDEX trace_text_docs_words ON trace_text_docs USING gin (words) WITH (fastupdate = off)`.execute(db);
  }
  await db.schema.createIndex('trace_text_docs_trace').on('trace_text_docs').column('trace_id').execute();
}
