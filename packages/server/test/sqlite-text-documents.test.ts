/**
 * SQLite's text index stores each document's words once, in the index itself
 * (store/sqlite/text-documents.ts): a document is deleted with its words read again from its
 * spans, or, where those no longer give the same words, listed from the index. Either way a
 * deleted trace's words leave the index entirely, and what stays is still found.
 */
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { storedSpanAttributes } from '../src/store/spans.js';
import { wordsHash } from '../src/store/sqlite/text-documents.js';
import { searchableWords } from '../src/text-search/span-text.js';
import { parseTextQuery, type TextTerm } from '../src/text-search/text-query.js';
import type { SpanRecord } from '../src/trace-model.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { traceRecord } from './support/store-inputs.js';
import { undoTraceKeys } from './support/undo-migrations.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'threadline-text-docs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.UTC(2026, 11, 6, 9);

/** A span saying `input` and answering `output`; ids chosen so that the order given is not span id order. */
function said(traceId: string, spanId: string, parentSpanId: string | null, input: unknown, output: unknown): SpanRecord {
  const start = BigInt(T0) * 1_000_000n + BigInt(parseInt(spanId.slice(-4), 16));
  return {
    spanId,
    parentSpanId,
    name: `span-${spanId.slice(-2)}`,
    type: 'CHAIN',
    status: 'OK',
    statusMessage: '',
    startNs: start,
    endNs: start + 1_000_000n,
    attributes: { 'mlflow.spanInputs': input, 'mlflow.spanOutputs': output },
    events: [],
  };
}

/** Stores a trace whose words are `words` spread over three spans given out of span id order, in two uploads. */
async function storeTrace(store: KyselyTraceStore, experimentId: string, words: [string, string, string]): Promise<string> {
  const traceId = newTraceId();
  await store.startTrace(traceRecord({ traceId, experimentId, requestTimeMs: T0 }));
  const root = said(traceId, 'ffff000000000001', null, { messages: [{ role: 'user', content: words[0] }] }, words[1]);
  const tool = said(traceId, '0000000000000002', root.spanId, JSON.stringify({ query: words[2] }), null);
  expect((await store.logSpans(traceId, [root, tool])).kind).toBe('stored');
  const late = said(traceId, '8888000000000003', root.spanId, `${words[2]} again`, { ok: true });
  expect((await store.logSpans(traceId, [root, tool, late])).kind).toBe('stored');
  return traceId;
}

describe('SQLite text documents without their words', () => {
  let store: KyselyTraceStore;
  let path: string;
  let experimentId: string;
  const traces: Record<string, string> = {};

  const matching = async (query: string) => {
    const [term] = parseTextQuery(query) as TextTerm[];
    return (await sql<{ trace_id: string }>`SELECT t.trace_id FROM ${store.dialect.traceText.matchingTraceKeys(term!)} AS m JOIN traces AS t ON t.trace_key = m.trace_key`.execute(store.db)).rows.map((r) => r.trace_id).filter((id, i, all) => all.indexOf(id) === i).sort();
  };
  const documentsOf = async (traceId: string) =>
    (await sql<{ doc_id: number; words: string; words_hash: number | null }>`SELECT doc_id, words, words_hash FROM trace_text_docs WHERE trace_key = (SELECT trace_key FROM traces WHERE trace_id = ${traceId})`.execute(store.db)).rows;
  /** The index's entries for these documents, from the index itself. */
  const entriesOf = async (docIds: readonly number[]) =>
    Number((await sql<{ n: number }>`SELECT count(*) AS n FROM trace_text_vocab WHERE doc IN (${sql.join(docIds)})`.execute(store.db)).rows[0]!.n);
  const integrityCheck = () => sql`INSERT INTO trace_text_index (trace_text_index, rank) VALUES ('integrity-check', 1)`.execute(store.db);

  beforeAll(async () => {
    path = join(dir, 'store.db');
    store = await openSqliteStore({ path });
    experimentId = await store.createExperiment({ name: 'text-documents' });
    traces.cafe = await storeTrace(store, experimentId, ['Où est le Café Noir?', 'Rue de la Paix, naïve réponse', 'ΑΘΗΝΑ καφές']);
    traces.refund = await storeTrace(store, experimentId, ['Can I get a refund?', 'Your refund is approved', 'ＦＵＬＬＷＩＤＴＨ ﬁle №5']);
    traces.kept = await storeTrace(store, experimentId, ['refund status please', 'approved yesterday', 'quokka 東京 🙂']);
  });
  afterAll(() => store.close());

  it('keeps no words outside the index, and its spans name their document', async () => {
    const documents = await documentsOf(traces.cafe!);
    expect(documents).toHaveLength(2);
    for (const d of documents) {
      expect(d.words).toBe('');
      expect(d.words_hash).not.toBeNull();
    }
    const spans = (await sql<{ text_doc: number | null }>`SELECT text_doc FROM spans WHERE trace_key = (SELECT trace_key FROM traces WHERE trace_id = ${traces.cafe!}) ORDER BY span_id`.execute(store.db)).rows;
    expect(new Set(spans.map((s) => s.text_doc))).toEqual(new Set(documents.map((d) => d.doc_id)));
    // What a delete reads again from the spans (in span id order) is what was indexed.
    for (const d of documents) {
      const contents = (await sql<{ content: string }>`SELECT content FROM spans WHERE text_doc = ${d.doc_id} ORDER BY span_id`.execute(store.db)).rows;
      expect(wordsHash(searchableWords(contents.map((c) => ({ attributes: storedSpanAttributes(c.content) }))))).toBe(d.words_hash);
    }
    expect(await matching('cafe')).toEqual([traces.cafe]);
    expect(await matching('athena')).toEqual([]);
    expect(await matching('αθηνα')).toEqual([traces.cafe]);
    expect(await matching('refund')).toEqual([traces.kept, traces.refund].sort());
  });

  it('takes a deleted trace\'s words out of the index, read again from its spans', async () => {
    const documents = (await documentsOf(traces.cafe!)).map((d) => d.doc_id);
    expect(await entriesOf(documents)).toBeGreaterThan(5);
    expect(await store.deleteTraces({ experimentId, traceIds: [traces.cafe!] })).toBe(1);
    expect(await entriesOf(documents)).toBe(0);
    expect(await matching('noir')).toEqual([]);
    expect(await matching('refund')).toEqual([traces.kept, traces.refund].sort());
    await integrityCheck();
  });

  it('lists a document\'s words from the index when its spans no longer give the same words', async () => {
    // As if the rules for words had changed since the document was indexed: its spans now give other words.
    await sql`UPDATE spans SET content = replace(content, 'refund', 'rebate') WHERE trace_key = (SELECT trace_key FROM traces WHERE trace_id = ${traces.refund!})`.execute(store.db);
    const documents = (await documentsOf(traces.refund!)).map((d) => d.doc_id);
    expect(await entriesOf(documents)).toBeGreaterThan(5);
    expect(await store.deleteTraces({ experimentId, traceIds: [traces.refund!] })).toBe(1);
    expect(await entriesOf(documents)).toBe(0);
    expect(await matching('refund')).toEqual([traces.kept]);
    expect(await matching('fullwidth')).toEqual([]);
    await integrityCheck();
  });

  it('takes over an index whose documents held their words (migration 014), and deletes those with them', async () => {
    const before = await storeTrace(store, experimentId, ['legacy words here', 'an old wombat', 'stored twice']);
    await undoTraceKeys(store.db as unknown as Kysely<unknown>, 'sqlite');
    await store.close();
    // The schema as it was before 014: an external-content index over documents holding their words.
    const raw = new BetterSqlite3(path);
    const documents = raw.prepare('SELECT doc_id FROM trace_text_docs').all() as { doc_id: number }[];
    const terms = raw.prepare('SELECT term FROM trace_text_vocab WHERE doc = ? ORDER BY "offset"');
    const words = new Map(documents.map((d) => [d.doc_id, (terms.all(d.doc_id) as { term: string }[]).map((t) => t.term).join(' ')]));
    raw.exec(`DROP TABLE trace_text_vocab; DROP TABLE trace_text_index;
      ALTER TABLE spans DROP COLUMN text_doc; ALTER TABLE trace_text_docs DROP COLUMN words_hash; ALTER TABLE trace_text_pending DROP COLUMN words;
      DELETE FROM threadline_migrations WHERE name = '014-text-documents-without-words';`);
    const setWords = raw.prepare('UPDATE trace_text_docs SET words = ? WHERE doc_id = ?');
    for (const [docId, text] of words) setWords.run(text, docId);
    raw.exec(`CREATE VIRTUAL TABLE trace_text_index USING fts5(words, content='trace_text_docs', content_rowid='doc_id', tokenize='unicode61 remove_diacritics 2');
      INSERT INTO trace_text_index (trace_text_index) VALUES ('rebuild');`);
    raw.close();

    store = await openSqliteStore({ path });
    expect(await matching('wombat')).toEqual([before]);
    expect(await matching('quokka')).toEqual([traces.kept]);
    const legacy = (await documentsOf(before)).map((d) => d.doc_id);
    expect(await entriesOf(legacy)).toBeGreaterThan(5);
    expect(await store.deleteTraces({ experimentId, traceIds: [before] })).toBe(1);
    expect(await entriesOf(legacy)).toBe(0);
    expect(await matching('wombat')).toEqual([]);
    // New documents are stored without their words, beside the old ones.
    const after = await storeTrace(store, experimentId, ['new numbat', 'fresh', 'words']);
    expect((await documentsOf(after)).map((d) => d.words)).toEqual(['', '']);
    expect(await matching('numbat')).toEqual([after]);
    expect(await store.deleteTraces({ experimentId, traceIds: [traces.kept!, after] })).toBe(2);
    expect(Number((await sql<{ n: number }>`SELECT count(*) AS n FROM trace_text_vocab`.execute(store.db)).rows[0]!.n)).toBe(0);
    await integrityCheck();
  });
});
