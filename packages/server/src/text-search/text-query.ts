import { wordsOf } from './words.js';

/**
 * A word search as `trace.text MATCH '...'` takes it: words a trace must all contain (in any of
 * its spans), and "quoted phrases" whose words must follow one another in one upload of spans.
 * An unquoted word of three characters or more also matches longer words it begins (`refund`
 * finds `refunded`); shorter words, and words in quotes, match only themselves, so that `a` does
 * not expand to every word that starts with it and `"refund"` means exactly that word.
 */
export interface TextTerm {
  /** One word, or a phrase's words in order; lower-case letters and digits only (words.ts). */
  readonly words: readonly string[];
  /** The last word also matches the longer words it begins. */
  readonly prefix: boolean;
}

/** Terms in one search; each is a lookup in the index. */
export const MAX_TEXT_TERMS = 16;

/** Words matched as a beginning from this length up. */
const MIN_PREFIX_LENGTH = 3;

/**
 * The terms of a word search, or a sentence saying what is wrong with it.
 *
 * @example
 * parseTextQuery('refund "late delivery"'); // [{ words: ['refund'], prefix: true }, { words: ['late', 'delivery'], prefix: false }]
 */
export function parseTextQuery(query: string): TextTerm[] | string {
  const terms: TextTerm[] = [];
  // Outside quotes every word is its own term; a quote left open runs to the end.
  const pieces = query.split('"');
  pieces.forEach((piece, i) => {
    const words = wordsOf(piece);
    if (i % 2 === 1) {
      if (words.length > 0) terms.push({ words, prefix: false });
    } else {
      for (const word of words) terms.push({ words: [word], prefix: word.length >= MIN_PREFIX_LENGTH });
    }
  });
  if (terms.length === 0) return 'a word search needs at least one word (letters or digits)';
  if (terms.length > MAX_TEXT_TERMS) return `a word search takes at most ${MAX_TEXT_TERMS} words and phrases, got ${terms.length}`;
  return dedupe(terms);
}

function dedupe(terms: TextTerm[]): TextTerm[] {
  const seen = new Set<string>();
  return terms.filter((t) => {
    const key = `${t.words.join(' ')}${t.prefix ? '*' : ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The term as an FTS5 query: a quoted phrase (its words hold only letters and digits, so need no
 * escaping), `*` after it for a prefix.
 *
 * @example
 * fts5Query({ words: ['refund'], prefix: true }); // '"refund"*'
 */
export function fts5Query(term: TextTerm): string {
  return `"${term.words.join(' ')}"${term.prefix ? '*' : ''}`;
}

/**
 * The term as a PostgreSQL tsquery text for `to_tsquery('simple', ...)`: words joined by `<->`
 * (followed by), `:*` on the last for a prefix.
 *
 * @example
 * tsQuery({ words: ['late', 'delivery'], prefix: false }); // 'late <-> delivery'
 */
export function tsQuery(term: TextTerm): string {
  return term.words.map((w, i) => (i === term.words.length - 1 && term.prefix ? `${w}:*` : w)).join(' <-> ');
}
