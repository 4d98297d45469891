import { describe, expect, it } from 'vitest';
import { searchableWords } from './span-text.js';
import { fts5Query, MAX_TEXT_TERMS, parseTextQuery, tsQuery } from './text-query.js';
import { MAX_WORD_LENGTH, wordsOf } from './words.js';

describe('words', () => {
  it('splits on anything but letters and digits, lower-cases and drops accents', () => {
    expect(wordsOf('Refunds for Café orders: bob@example.com, naïve Ångström 3.5')).toEqual(['refunds', 'for', 'cafe', 'orders', 'bob', 'example', 'com', 'naive', 'angstrom', '3', '5']);
    expect(wordsOf('東京 в Москве')).toEqual(['東京', 'в', 'москве']);
  });

  it('reads plain ASCII as the same words as any text', () => {
    // ASCII text takes a shorter path; one non-ASCII character takes the general one.
    const ascii = 'Order #A-1234 by Bob_Smith (bob@example.com): "REFUND" it, 3.5x\ttoday!\n';
    expect(wordsOf(ascii)).toEqual(['order', 'a', '1234', 'by', 'bob', 'smith', 'bob', 'example', 'com', 'refund', 'it', '3', '5x', 'today']);
    expect(wordsOf(`${ascii} é`)).toEqual([...wordsOf(ascii), 'e']);
    expect(wordsOf('  \u0000 ')).toEqual([]);
  });

  it('leaves out runs too long to be words', () => {
    expect(wordsOf(`a ${'x'.repeat(MAX_WORD_LENGTH)} ${'y'.repeat(MAX_WORD_LENGTH + 1)} b`)).toEqual(['a', 'x'.repeat(MAX_WORD_LENGTH), 'b']);
    expect(wordsOf(`é ${'y'.repeat(MAX_WORD_LENGTH + 1)} b`)).toEqual(['e', 'b']);
  });
});

describe('searchable words of spans', () => {
  it('takes the string values of inputs and outputs, JSON held in strings included, and never keys', () => {
    const words = searchableWords([
      { attributes: { 'mlflow.spanInputs': { messages: [{ role: 'user', content: 'Where is my Parcel?' }] }, 'mlflow.spanOutputs': '{"answer":"In Rotterdam"}', other: 'ignored' } },
      { attributes: { 'mlflow.spanInputs': 42, 'mlflow.spanOutputs': ['late', { n: null }] } },
    ]);
    expect(words).toBe('user where is my parcel in rotterdam late');
  });
});

describe('word search queries', () => {
  it('makes each unquoted word a term, a prefix from three letters, and a quoted group an exact phrase', () => {
    expect(parseTextQuery('Refund of "late  Delivery" ab')).toEqual([
      { words: ['refund'], prefix: true },
      { words: ['of'], prefix: false },
      { words: ['late', 'delivery'], prefix: false },
      { words: ['ab'], prefix: false },
    ]);
    expect(parseTextQuery('refund refund')).toEqual([{ words: ['refund'], prefix: true }]);
  });

  it('refuses a search without words or with too many', () => {
    expect(parseTextQuery(' ?! "" ')).toMatch(/at least one word/);
    expect(parseTextQuery(Array.from({ length: MAX_TEXT_TERMS + 1 }, (_, i) => `w${i}`).join(' '))).toMatch(/at most/);
  });

  it('writes each database its query', () => {
    expect(fts5Query({ words: ['refund'], prefix: true })).toBe('"refund"*');
    expect(fts5Query({ words: ['late', 'delivery'], prefix: false })).toBe('"late delivery"');
    expect(tsQuery({ words: ['refund'], prefix: true })).toBe('refund:*');
    expect(tsQuery({ words: ['late', 'delivery'], prefix: false })).toBe('late <-> delivery');
  });
});
