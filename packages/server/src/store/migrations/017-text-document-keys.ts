import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * The text index's documents name their trace by its `trace_key` (migration 015) instead of its
 * id, and are indexed by it: the last of a trace's rows whose index was keyed by the random
 * trace id but for the trace's own. At 1M traces a document's insert took 24 µs against 6 in a
 * new file (BENCHMARKS.md, "Ingest at scale, second part"): its index leaf, anywhere in the
 * index, read from disk first.
 *
 * Documents keep their ids (the words' index and `spans.text_doc` name them by it). SQLite
 * copies the table, which is small (no words kept since 014); PostgreSQL changes it in place.
 * Documents of traces that no longer exist are dropped on the way.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  await sql`DROP INDEX trace_text_docs_trace`.execute(db);
  if (ctx.dialect === 'sqlite') {
    await sql`CREATE TABLE trace_text_docs_keyed (doc_id INTEGER PRIMARY KEY, trace_key INTEGER NOT NULL, words TEXT NOT NULL, words_hash INTEGER)`.execute(db);
    await sql`INSERT INTO trace_text_docs_keyed (doc_id, trace_key, words, words_hash)
      SELECT d.doc_id, t.trace_key, d.words, d.words_hash FROM trace_text_docs AS d JOIN traces AS t ON t.trace_id = d.trace_id ORDER BY d.doc_id`.execute(db);
    await sql`DROP TABLE trace_text_docs`.execute(db);
    await sql`ALTER TABLE trace_text_docs_keyed RENAME TO trace_text_docs`.execute(db);
  } else {
    await sql`ALTER TABLE trace_text_docs ADD COLUMN trace_key BIGINT`.execute(db);
    await sql`UPDATE trace_text_docs AS d SET trace_key = t.trace_key FROM traces AS t WHERE t.trace_id = d.trace_id`.execute(db);
    await sql`DELETE FROM trace_text_docs WHERE trace_key IS NULL`.execute(db);
    await sql`ALTER TABLE trace_text_docs DROP COLUMN trace_id`.execute(db);
    await sql`ALTER TABLE trace_text_docs ALTER COLUMN trace_key SET NOT NULL`.execute(db);
  }
  await sql`CREATE INDEX trace_text_docs_trace ON trace_text_docs (trace_key)`.execute(db);
}
