import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * SQLite: the text index's documents stop storing their words a second time, a quarter of what a
 * trace stored (sqlite/text-documents.ts reads them again from the spans to delete a document).
 *
 * - `trace_text_index` becomes contentless (`content=''`): FTS5 no longer reads the words from
 *   `trace_text_docs`, and deletes a document only when given its words, as before. It is built
 *   again here from the documents' stored words (each document stored so far has them).
 * - `spans.text_doc`: the document a span's words were indexed in.
 * - `trace_text_docs.words_hash`: whether the words read again are those indexed. New documents
 *   keep `words` empty; those stored before keep theirs, and are deleted with them
 *   (`threadline reindex-text` rewrites them in the new form).
 * - `trace_text_pending.words`: a new document's words, until its transaction indexes them.
 * - `trace_text_vocab`: the index's terms per document, read only for a document whose words
 *   cannot be read again the same (the rules for words changed since it was indexed).
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  if (ctx.dialect !== 'sqlite') return;
  await sql`CREATE VIRTUAL TABLE trace_text_words USING fts5(words, content='', tokenize='unicode61 remove_diacritics 2')`.execute(db);
  await sql`INSERT INTO trace_text_words (trace_text_words, rank) VALUES ('secure-delete', 1)`.execute(db);
  await sql`INSERT INTO trace_text_words (rowid, words) SELECT doc_id, words FROM trace_text_docs ORDER BY doc_id`.execute(db);
  await sql`DROP TABLE trace_text_index`.execute(db);
  await sql`ALTER TABLE trace_text_words RENAME TO trace_text_index`.execute(db);
  await sql`CREATE VIRTUAL TABLE trace_text_vocab USING fts5vocab(trace_text_index, instance)`.execute(db);
  await db.schema.alterTable('spans').addColumn('text_doc', 'integer').execute();
  await db.schema.alterTable('trace_text_docs').addColumn('words_hash', 'integer').execute();
  await db.schema.alterTable('trace_text_pending').addColumn('words', 'text').execute();
}
