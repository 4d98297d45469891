// The server's own modules, not copies: the filter lexer and its prefixes, and what a word and a
// word search are (all dependency-free), so that the UI reads filters and finds words exactly as
// the server does.
import { ENTITIES } from '../../server/src/query/filter-entities.js';
import { tokenize, type Token } from '../../server/src/query/filter-lexer.js';
import { parseTextQuery, type TextTerm } from '../../server/src/text-search/text-query.js';
import { wordsOf } from '../../server/src/text-search/words.js';

export type { TextTerm };

/** The field a word search is written on; what the filter boxes' plain words become. */
export const TEXT_FIELD = 'trace.text';

/**
 * What makes typed text a filter rather than words: a comparison sign (`=`, `!=`, `<`, `>`), a
 * single quote, a backtick or a parenthesis; `IS NULL` or `IS NOT NULL`; or LIKE, ILIKE, RLIKE or
 * MATCH before a double-quoted value. Every clause of the language has one of them, so a filter
 * is never taken for words; double quotes alone are a phrase (`refund "late delivery"`).
 */
const FILTER_SYNTAX = /[=<>'`()]|!=|\bIS\s+(?:NOT\s+)?NULL\b|\b(?:I?LIKE|RLIKE|MATCH)\s*"/i;

/**
 * Whether a filter box reads `text` as words to search for (the plain-word shorthand) rather than
 * as a filter: it has some text and none of the filter syntax above.
 *
 * @example
 * isWordSearch('refund "late delivery"'); // true
 * isWordSearch("trace.status = 'ERROR'"); // false
 */
export function isWordSearch(text: string): boolean {
  return text.trim() !== '' && !FILTER_SYNTAX.test(text);
}

/** Whether an identifier names the word-search field: `text`, `trace.text`, `attributes.text`... */
function isTextField(token: Token): boolean {
  if (token.kind !== 'identifier' || token.parts.some((p) => p.quoted)) return false;
  const [first, second, ...rest] = token.parts;
  if (rest.length > 0) return false;
  return second === undefined ? first?.text === 'text' : ENTITIES.get(first!.text) === 'attribute' && second.text === 'text';
}

/**
 * The word searches a filter makes (`trace.text MATCH '...'`), as written, but not those under a
 * NOT: the words to highlight in what the filter found. None for a filter that does not read.
 *
 * @example
 * wordQueriesOf("trace.text MATCH 'refund' AND trace.status = 'OK'"); // ['refund']
 */
export function wordQueriesOf(filter: string): string[] {
  let tokens: Token[];
  try {
    tokens = tokenize(filter);
  } catch {
    return [];
  }
  const queries: string[] = [];
  tokens.forEach((token, i) => {
    const operator = tokens[i + 1];
    const value = tokens[i + 2];
    const before = tokens[i - 1];
    if (!isTextField(token) || operator?.kind !== 'keyword' || operator.keyword !== 'MATCH' || value?.kind !== 'string') return;
    if (before?.kind === 'keyword' && before.keyword === 'NOT') return;
    queries.push(value.value);
  });
  return queries;
}

/**
 * Word searches as one, as a link carries them (`?words=`) and {@link termsOf} reads them: a quote
 * left open in one is closed, so that it does not take in the words of the next.
 */
export function joinWordQueries(queries: readonly string[]): string {
  return queries.map((q) => (q.split('"').length % 2 === 0 ? `${q}"` : q)).join(' ');
}

/** The terms of word searches (see {@link wordQueriesOf}); a search the server would refuse adds none. */
export function termsOf(queries: readonly string[]): TextTerm[] {
  return queries.flatMap((query) => {
    const terms = parseTextQuery(query);
    return typeof terms === 'string' ? [] : terms;
  });
}

export interface TextRange {
  start: number;
  end: number;
}

/**
 * Runs of a text that hold its words, with the marks of decomposed letters. words.ts says what the
 * words of a run are (accents removed, lower-cased); this only finds where they are.
 */
const RUN = /[\p{L}\p{N}\p{M}]+/gu;

/**
 * Where `terms` match in `text`, by the server's rule (text-query.ts): a word matches itself in any
 * case and with or without accents, a prefix term also the longer words it begins, a phrase its
 * words one after the other. Sorted, overlaps merged.
 *
 * @example
 * matchRanges('Refunded: late delivery', termsOf(['refund "late delivery"'])); // [{start: 0, end: 8}, {start: 10, end: 23}]
 */
export function matchRanges(text: string, terms: readonly TextTerm[]): TextRange[] {
  if (terms.length === 0 || text === '') return [];
  const words: { word: string; start: number; end: number }[] = [];
  for (const run of text.matchAll(RUN)) {
    for (const word of wordsOf(run[0])) words.push({ word, start: run.index, end: run.index + run[0].length });
  }
  const ranges: TextRange[] = [];
  for (const term of terms) {
    const last = term.words.length - 1;
    for (let i = 0; i + last < words.length; i++) {
      const matches = term.words.every((w, k) => {
        const word = words[i + k]!.word;
        return k === last && term.prefix ? word.startsWith(w) : word === w;
      });
      if (matches) ranges.push({ start: words[i]!.start, end: words[i + last]!.end });
    }
  }
  ranges.sort((a, b) => a.start - b.start);
  const merged: TextRange[] = [];
  for (const range of ranges) {
    const previous = merged[merged.length - 1];
    if (previous && range.start <= previous.end) previous.end = Math.max(previous.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}
