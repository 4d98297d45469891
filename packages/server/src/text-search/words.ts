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
/** ASCII text has no marks, NFKD leaves it as it is, and its letters and digits are these: the same words, a third faster. */
const NOT_ASCII = /[^\x00-\x7f]/;
const ASCII_WORD = /[a-z0-9]+/g;

/**
 * The words of `text`, in order.
 *
 * @example
 * wordsOf('Refunds for café orders: bob@example.com'); // ['refunds', 'for', 'cafe', 'orders', 'bob', 'example', 'com']
 */
export function wordsOf(text: string): string[] {
  const found = NOT_ASCII.test(text) ? text.normalize('NFKD').replace(MARKS, '').toLowerCase().match(WORD) : text.toLowerCase().match(ASCII_WORD);
  if (found === null) return [];
  return found.some((word) => word.length > MAX_WORD_LENGTH) ? found.filter((word) => word.length <= MAX_WORD_LENGTH) : found;
}
