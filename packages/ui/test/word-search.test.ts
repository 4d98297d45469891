import { describe, expect, it } from 'vitest';
import { combineTraceFilter, errorSpan, typedFilter } from '../src/filters.js';
import { isWordSearch, joinWordQueries, matchRanges, termsOf, wordQueriesOf } from '../src/word-search.js';

/** The marked parts of `text`, for reading. */
const marked = (text: string, ...queries: string[]) => matchRanges(text, termsOf(queries)).map((r) => text.slice(r.start, r.end));

describe('plain words in a filter box', () => {
  it('are words when they have none of the filter syntax, a filter when they have any', () => {
    for (const words of ['Python', 'refund "late delivery"', 'order 1234', 'e-mail bob@example.com', 'why is it slow?', 'help!', 'trace.status', '"IN progress"']) {
      expect(isWordSearch(words), words).toBe(true);
    }
    for (const filter of [
      "trace.status = 'ERROR'",
      'trace.execution_time_ms > 2000',
      'turns >= 5',
      'a != b',
      "tags.env LIKE 'prod%'",
      'tag.env IS NULL',
      'tag.env is not null',
      'tags.env LIKE "prod%"',
      'trace.text MATCH "refund"',
      "user IN ('a')",
      '(errors)',
      'metadata.`x` = 1',
      "don't",
    ]) {
      expect(isWordSearch(filter), filter).toBe(false);
    }
    expect(isWordSearch('   ')).toBe(false);
  });

  it('become a word search, and a filter stays as typed', () => {
    expect(typedFilter('  refund "late delivery" ')).toEqual({ filter: 'trace.text MATCH \'refund "late delivery"\'', textOffset: 16, words: true });
    expect(typedFilter("trace.status = 'OK'")).toEqual({ filter: "trace.status = 'OK'", textOffset: -0, words: false });
    expect(typedFilter('')).toMatchObject({ filter: '', words: false });
    // A backslash would escape the closing quote; between words it is a separator anyway.
    expect(typedFilter('C:\\temp\\').filter).toBe("trace.text MATCH 'C: temp '");
  });

  it('join the quick filters without parentheses, an OR inside a word search being a word', () => {
    expect(combineTraceFilter('refund OR return', { user: 'ann' })).toEqual({ filter: "trace.text MATCH 'refund OR return' AND metadata.`mlflow.trace.user` = 'ann'", textOffset: 18 });
    expect(combineTraceFilter("a = 'x' OR b = 'y'", { user: 'ann' }).filter).toBe("(a = 'x' OR b = 'y') AND metadata.`mlflow.trace.user` = 'ann'");
  });

  it('keep error positions of real filters where they were typed', () => {
    const text = "  trace.status = 'OK' tags.a = 'x'";
    const { textOffset } = combineTraceFilter(text, { state: 'ERROR' });
    // The server counts in the filter it got, which starts with the trimmed text.
    expect(errorSpan("expected AND or OR before 'tags.a' at position 20.", text, textOffset)).toEqual({ start: 22, end: 28 });
    const or = "  a = 1 OR b >> 2";
    const combined = combineTraceFilter(or, { user: 'u' });
    expect(errorSpan("found '>>' at position 12.", or, combined.textOffset)).toEqual({ start: 13, end: 15 });
  });
});

describe('the words to highlight', () => {
  it('are those of every word search of a filter, not under a NOT, whatever the spelling of the field', () => {
    expect(wordQueriesOf("trace.text MATCH 'refund' AND text MATCH \"late delivery\" AND attributes.text match 'x'")).toEqual(['refund', 'late delivery', 'x']);
    expect(wordQueriesOf("NOT trace.text MATCH 'spam' AND trace.text MATCH 'ham'")).toEqual(['ham']);
    expect(wordQueriesOf("tag.text = 'x' AND tag.note = 'trace.text MATCH ''no'''")).toEqual([]);
    expect(wordQueriesOf("trace.text MATCH 'unclosed")).toEqual([]);
    expect(wordQueriesOf(typedFilter("it's fine").filter)).toEqual([]);
    expect(wordQueriesOf(typedFilter('Python tips').filter)).toEqual(['Python tips']);
  });

  it('join into one query a link carries, a quote left open closed', () => {
    expect(joinWordQueries(['refund', '"late delivery'])).toBe('refund "late delivery"');
    expect(joinWordQueries(['"open', 'next'])).toBe('"open" next');
    expect(joinWordQueries([])).toBe('');
  });

  it('match as the server does: any case, no accents, a word start for 3+ letters, whole words otherwise, phrases in order', () => {
    expect(marked('Refunded to your card; REFUND approved', 'refund')).toEqual(['Refunded', 'REFUND']);
    expect(marked('At the Café Noir, cafes', 'cafe')).toEqual(['Café', 'cafes']);
    expect(marked('At the Cafe\u0301 Noir', 'CAFÉ')).toEqual(['Cafe\u0301']);
    // Short words and quoted words are whole words.
    expect(marked('an answer, an ant', 'an')).toEqual(['an', 'an']);
    expect(marked('refund refunded', '"refund"')).toEqual(['refund']);
    // A phrase: its words one after the other, whatever is between them.
    expect(marked('late, delivery! a late parcel; delivery', '"late delivery"')).toEqual(['late, delivery']);
    expect(marked('nothing here', 'refund')).toEqual([]);
    expect(marked('bob@example.com wrote', 'example com')).toEqual(['example', 'com']);
  });

  it('merge overlapping matches', () => {
    const text = 'late delivery';
    expect(matchRanges(text, termsOf(['late "late delivery"']))).toEqual([{ start: 0, end: 13 }]);
  });
});
