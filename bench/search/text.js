/**
 * The search benchmark's conversation text: every turn's root span gains the user's message
 * (`mlflow.spanInputs`, a chat message list) and the answer (`mlflow.spanOutputs`), and the text
 * index (migration 010) gains their words, as the server's write path indexes them
 * (text-search/span-text.js `searchableWords` over the stored span's attributes; the SQL of
 * store/sqlite/text-documents.js: a document without its words, named by its trace's spans).
 *
 * The words follow a Zipf law over a made-up vocabulary of 5,000 (a support chat's long tail),
 * plus two marker words at known rates: `refund` (and `refunded`, `refunds`) in ~2% of turns,
 * the searches' common word, and `chargeback` in ~0.02%, the rare one.
 *
 * Added to a database that has its traces, in a pass of its own with its own seed (version in
 * `bench_text`). On small databases it is checked against the server's own path:
 * `threadline reindex-text` (store.textIndex.reindex) on a copy must leave the same documents.
 */
import Database from 'better-sqlite3';
import { SpanAttributeKey } from '../../packages/protocol/dist/index.js';
import { openSqliteStore } from '../../packages/server/dist/index.js';
import { storedSpanAttributes } from '../../packages/server/dist/store/spans.js';
import { wordsHash } from '../../packages/server/dist/store/sqlite/text-documents.js';
import { searchableWords } from '../../packages/server/dist/text-search/span-text.js';
import { rng } from '../lib/random.js';
import { ensureAddition, onCopy } from './additions.js';

/** Bump when the generated text changes, so cached databases get it anew. */
export const TEXT_VERSION = 2;
/** The common and the rare word the benchmark searches for, and their shares of turns. */
export const COMMON_WORD = 'refund';
export const RARE_WORD = 'chargeback';
const COMMON_SHARE = 0.02;
const RARE_SHARE = 0.0002;
const VOCABULARY = 5_000;
const CHUNK = 20_000;

/**
 * Gives the database at `path` its conversation text unless it has this version of it already.
 * @param {{ path: string, experimentId: number, log: (line: string) => void, verify?: boolean }} o
 */
export async function ensureText({ path, experimentId, log, verify }) {
  const write = (db) => {
    const written = writeText(db, experimentId);
    return { traces: written.traces, added: `conversation text to ${written.traces.toLocaleString('en-US')} turns (${written.words.toLocaleString('en-US')} words indexed)` };
  };
  await ensureAddition({ path, table: 'bench_text', version: TEXT_VERSION, write, check: verifyAgainstServer, log, verify });
}

/** Made-up words of 2 to 4 syllables, the same for every run. */
function vocabulary() {
  const rand = rng(5000);
  const onsets = ['b', 'c', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z', 'br', 'cl', 'dr', 'st', 'tr', 'pl', 'gr'];
  const vowels = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'ea'];
  const words = new Set();
  while (words.size < VOCABULARY) {
    const syllables = 2 + Math.floor(rand() * 3);
    let word = '';
    for (let i = 0; i < syllables; i++) word += onsets[Math.floor(rand() * onsets.length)] + vowels[Math.floor(rand() * vowels.length)];
    // Never a marker word, nor one the markers begin.
    if (!word.startsWith('refund') && !word.startsWith('chargeback')) words.add(word);
  }
  return [...words];
}

/** A sampler of Zipf-distributed ranks (s = 1) over `n` items. */
function zipf(n, rand) {
  const cumulative = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cumulative[i] = sum += 1 / (i + 1);
  return () => {
    const u = rand() * sum;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (cumulative[mid] < u) low = mid + 1;
      else high = mid;
    }
    return low;
  };
}

function writeText(db, experimentId) {
  const rand = rng(20261206);
  const words = vocabulary();
  const rank = zipf(words.length, rand);
  const sentence = (min, max) => {
    const out = [];
    const n = min + Math.floor(rand() * (max - min + 1));
    for (let i = 0; i < n; i++) out.push(words[rank()]);
    return out;
  };
  const withMarker = (list) => {
    const u = rand();
    if (u < RARE_SHARE) list.splice(Math.floor(rand() * list.length), 0, RARE_WORD);
    else if (u < RARE_SHARE + COMMON_SHARE) list.splice(Math.floor(rand() * list.length), 0, ['refund', 'refunded', 'refunds'][Math.floor(rand() * 3)]);
    return list;
  };
  db.pragma('cache_size = -500000');
  db.transaction(() => {
    db.exec('DELETE FROM bench_text');
    // An older version's documents go; the roots' text is rewritten below.
    db.exec(`INSERT INTO trace_text_index (trace_text_index) VALUES ('delete-all'); DELETE FROM trace_text_docs;`);
  })();
  const read = db
    .prepare(`SELECT s.rowid AS rowid, s.trace_key, s.content FROM spans AS s JOIN traces AS t ON t.trace_key = s.trace_key
      WHERE s.rowid > ? AND s.parent_span_id IS NULL AND t.experiment_id = ? ORDER BY s.rowid LIMIT ?`)
    .safeIntegers(true);
  const updateSpan = db.prepare('UPDATE spans SET content = ? WHERE rowid = ?');
  // store/sqlite/text-documents.js's insertTextDocument; as `threadline reindex-text`, every span of the trace names the document.
  const insertDoc = db.prepare("INSERT INTO trace_text_docs (trace_key, words, words_hash) VALUES (?, '', ?)");
  const nameDoc = db.prepare('UPDATE spans SET text_doc = ? WHERE trace_key = ?');
  const insertIndex = db.prepare('INSERT INTO trace_text_index (rowid, words) VALUES (?, ?)');
  let traces = 0;
  let indexed = 0;
  for (let after = 0n; ; ) {
    const rows = read.all(after, experimentId, CHUNK);
    if (rows.length === 0) break;
    db.transaction(() => {
      for (const row of rows) {
        const question = withMarker(sentence(6, 16)).join(' ');
        const answer = withMarker(sentence(10, 30)).join(' ');
        const span = JSON.parse(row.content);
        // Stored as the server stores attributes: each value JSON-encoded.
        span.attributes[SpanAttributeKey.INPUTS] = JSON.stringify({ messages: [{ role: 'user', content: `${question[0].toUpperCase()}${question.slice(1)}?` }] });
        span.attributes[SpanAttributeKey.OUTPUTS] = JSON.stringify(`${answer[0].toUpperCase()}${answer.slice(1)}.`);
        const content = JSON.stringify(span);
        updateSpan.run(content, row.rowid);
        const text = searchableWords([{ attributes: storedSpanAttributes(content) }]);
        const doc = insertDoc.run(row.trace_key, wordsHash(text));
        nameDoc.run(doc.lastInsertRowid, row.trace_key);
        insertIndex.run(doc.lastInsertRowid, text);
        indexed += text.split(' ').length;
        traces++;
      }
    })();
    after = rows[rows.length - 1].rowid;
  }
  // Last: a pass stopped half way is done again in full.
  db.prepare('INSERT INTO bench_text (version) VALUES (?)').run(TEXT_VERSION);
  return { traces, words: indexed };
}

/** The documents as the server's reindex writes them from the stored spans must be these. */
async function verifyAgainstServer(path, log) {
  await onCopy(path, async (copy) => {
    // Each trace's document by its words' hash, and the document each of its spans names.
    const docs = (db) =>
      db
        .prepare(`SELECT d.trace_key, d.words_hash, (SELECT count(*) FROM spans AS s WHERE s.trace_key = d.trace_key AND s.text_doc IS NOT d.doc_id) AS other_spans
          FROM trace_text_docs AS d ORDER BY d.trace_key`)
        .all();
    const before = new Database(copy, { readonly: true });
    const want = docs(before);
    before.close();
    const store = await openSqliteStore({ path: copy });
    let indexed;
    try {
      indexed = await store.textIndex.reindex({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER });
    } finally {
      await store.close();
    }
    const after = new Database(copy, { readonly: true });
    try {
      const got = docs(after);
      if (indexed !== want.length || JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`text: the server's reindex wrote ${got.length} documents (${indexed} traces), the bench ${want.length}, or other words`);
      }
    } finally {
      after.close();
    }
    log(`text: ${want.length.toLocaleString('en-US')} documents equal to the server's reindex`);
  });
}
