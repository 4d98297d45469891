/**
 * What a word is, for the text index and for the words searched: a run of letters and digits,
 * lower-cased, with accents and other combining marks removed (so `Café` is found by `cafe`). Both
 * stores index the words joined by single spaces, already split here, so that SQLite's FTS5 and
 * PostgreSQL's text parser see the same words whatever their own rules for e-mail addresses,
 * hyphens or URLs.
 */

/** Longer runs are identifiers, hashes or base64, not words anyone types: left out of the index. */
export const MAX_WORD_LENGTH = 64;

const WORD = /[\p{L}\p{N}]+/gu;
const MARKS = /\p{M}+/gu;

/**
 * The words of `text`, in order.
 *
 * @example
 * wordsOf('Refunds for café orders: bob@example.com'); // ['refunds', 'for', 'cafe', 'orders', 'bob', 'example', 'com']
 */
export function wordsOf(text: string): string[] {
  const words: string[] = [];
  for (const match of text.normalize('NFKD').replace(MARKS, '').toLowerCase().matchAll(WORD)) {
    if (match[0].length <= MAX_WORD_LENGTH) words.push(match[0]);
  }
  return words;
}
