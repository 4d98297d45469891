import { createHash } from 'node:crypto';
import type { Kysely, SqliteDatabase, Transaction } from 'kysely';
import { searchableWords } from '../../text-search/span-text.js';
import { placeholders, runSql } from '../fast-sql.js';
import type { Database } from '../schema.js';
import { storedSpanAttributes } from '../spans.js';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * SQLite's documents of the text index (migrations 010, 013, 014), stored without their words.
 *
 * FTS5 takes a document out of its index only when given the words it was indexed with (and
 * `secure-delete` then removes them at once: an erased user's words must not linger in the
 * file). Those words used to be kept a second time in `trace_text_docs`, a quarter of what a
 * trace stored. They are now read again from the document's spans when it is deleted: its spans
 * name it (`spans.text_doc`), spans are write-once, and a document's words are read from its
 * spans in span id order, so the same spans give the same words. A hash of the words kept with
 * the document says whether they did: if the rules for words changed since (a new Unicode
 * version in Node, a change to words.ts), the document's terms are instead listed from the index
 * itself (`trace_text_vocab`, a scan of the whole index, so only then). Documents stored before
 * migration 014 keep their words, and are deleted with them.
 */

/** Adds a document of `words` (of spans in span id order) to the trace; answers its id, which its spans keep. */
export async function insertTextDocument(trx: Db, traceKey: number, words: string): Promise<number> {
  const inserted = await runSql(trx, "INSERT INTO trace_text_docs (trace_key, words, words_hash) VALUES (?, '', ?)", [traceKey, wordsHash(words)]);
  const documentId = Number(inserted.insertId);
  // Indexed when the transaction commits (indexPendingText).
  await runSql(trx, 'INSERT INTO trace_text_pending (doc_id, words) VALUES (?, ?)', [documentId, words]);
  return documentId;
}

interface DocumentRow {
  doc_id: number;
  words: string;
  words_hash: number | null;
  pending: number;
}

/** Removes every document of these traces (by `trace_key`, at most a few hundred) from the index, before their spans are deleted. */
export async function deleteTextDocuments(trx: Db, traceKeys: readonly number[]): Promise<void> {
  if (traceKeys.length === 0) return;
  const keys = placeholders(traceKeys.length);
  const documents = (
    await runSql<DocumentRow>(
      trx,
      `SELECT d.doc_id, d.words, d.words_hash, p.doc_id IS NOT NULL AS pending FROM trace_text_docs AS d
        LEFT JOIN trace_text_pending AS p ON p.doc_id = d.doc_id WHERE d.trace_key IN (${keys})`,
      traceKeys,
    )
  ).rows;
  if (documents.length === 0) return;
  // A pending document was never indexed: its pending row goes, and nothing leaves the index.
  const indexed = documents.filter((d) => !d.pending);
  const wordsOf = await indexedWords(trx, traceKeys, indexed);
  for (const document of indexed) {
    await runSql(trx, "INSERT INTO trace_text_index (trace_text_index, rowid, words) VALUES ('delete', ?, ?)", [document.doc_id, wordsOf.get(document.doc_id)]);
  }
  const pending = documents.filter((d) => d.pending).map((d) => d.doc_id);
  if (pending.length > 0) await runSql(trx, `DELETE FROM trace_text_pending WHERE doc_id IN (${placeholders(pending.length)})`, pending);
  await runSql(trx, `DELETE FROM trace_text_docs WHERE trace_key IN (${keys})`, traceKeys);
}

/** The words each indexed document was indexed with. */
async function indexedWords(trx: Db, traceKeys: readonly number[], documents: readonly DocumentRow[]): Promise<Map<number, string>> {
  const words = new Map<number, string>();
  const compact = new Set<number>();
  for (const d of documents) {
    if (d.words !== '') words.set(d.doc_id, d.words);
    else compact.add(d.doc_id);
  }
  if (compact.size === 0) return words;
  const spans = await runSql<{ text_doc: number; content: string }>(
    trx,
    `SELECT text_doc, content FROM spans WHERE trace_key IN (${placeholders(traceKeys.length)}) AND text_doc IS NOT NULL ORDER BY text_doc, span_id`,
    traceKeys,
  );
  const attributes = new Map<number, { attributes: Record<string, unknown> }[]>();
  for (const span of spans.rows) {
    if (!compact.has(span.text_doc)) continue;
    const list = attributes.get(span.text_doc) ?? [];
    list.push({ attributes: storedSpanAttributes(span.content) });
    attributes.set(span.text_doc, list);
  }
  for (const d of documents) {
    if (!compact.has(d.doc_id)) continue;
    const fromSpans = searchableWords(attributes.get(d.doc_id) ?? []);
    words.set(d.doc_id, wordsHash(fromSpans) === d.words_hash ? fromSpans : await wordsInIndex(trx, d.doc_id));
  }
  return words;
}

/** A document's terms in order, as its index holds them: a scan of the whole index. */
async function wordsInIndex(trx: Db, documentId: number): Promise<string> {
  const terms = await runSql<{ term: string }>(trx, 'SELECT term FROM trace_text_vocab WHERE doc = ? ORDER BY "offset"', [documentId]);
  return terms.rows.map((r) => r.term).join(' ');
}

/** 32 bits of the words' SHA-256: enough to tell words read differently from those indexed. */
export function wordsHash(words: string): number {
  return createHash('sha256').update(words).digest().readInt32BE(0);
}

/**
 * Indexes the documents still pending, in one FTS5 write: run by the store's connection at the
 * end of each transaction, before it commits (ThreadlineSqliteDriver). FTS5 writes what it was
 * given to disk at every savepoint, and group commit opens one per unit of work, so indexing
 * each document at once wrote a segment per trace.
 */
export function indexPendingText(database: SqliteDatabase): void {
  if (database.prepare('SELECT 1 FROM trace_text_pending LIMIT 1').all([]).length === 0) return;
  database.prepare('INSERT INTO trace_text_index (rowid, words) SELECT doc_id, words FROM trace_text_pending').run([]);
  database.prepare('DELETE FROM trace_text_pending').run([]);
}
