import type { FilterSuggestionsJson } from '@threadline/protocol';
import { describe, expect, it } from 'vitest';
import { filterFieldsOf } from '../../server/src/query/filter-field-list.js';
import { completionContext, suggestionsFor, writtenKey } from '../src/completion.js';

/** The fields the server answers for each language, and some keys in use. */
const known = (language: 'traces' | 'sessions' | 'users'): FilterSuggestionsJson => ({
  fields: filterFieldsOf(language),
  tag_keys: ['env', 'my-key', 'name', 'team.name'],
  metadata_keys: ['app.version', 'mlflow.trace.user'],
});

/** The context at the end of `text` (or at `|`), and what it offers. */
const at = (input: string, language: 'traces' | 'sessions' | 'users' = 'traces', values: string[] = []) => {
  const caret = input.includes('|') ? input.indexOf('|') : input.length;
  const text = input.replace('|', '');
  const context = completionContext(text, caret, known(language).fields);
  const suggestions = context ? suggestionsFor(context, known(language), values) : [];
  /** The text once the first suggestion is accepted. */
  const accepted = (i = 0) => (context && suggestions[i] ? text.slice(0, context.from) + suggestions[i]!.insert + text.slice(context.to) : undefined);
  return { context, labels: suggestions.map((s) => s.label), accepted };
};

describe('completion in the filter boxes', () => {
  it('offers field names where a clause starts, those that begin with what is typed first', () => {
    expect(at('').labels).toEqual(expect.arrayContaining(['trace.status', 'trace.text', 'tag.', 'metadata.', 'span.name', 'feedback.']));
    const status = at('trace.st');
    expect(status.labels).toEqual(['trace.status']);
    expect(status.accepted()).toBe('trace.status ');
    expect(at('stat').labels).toEqual(['trace.status', 'span.status']);
    expect(at("trace.status = 'OK' AND ex").labels).toEqual(['expectation.', 'trace.execution_time_ms']);
    expect(at('NOT (tr').labels[0]).toBe('trace.timestamp_ms');
    expect(at('tur', 'sessions').labels).toEqual(['turns']);
    expect(at('tur', 'traces').labels).toEqual([]);
  });

  it('offers tag and metadata keys after their prefix, quoted with backticks where the language needs it', () => {
    expect(at('tag.').labels).toEqual(['env', 'my-key', 'name', 'team.name']);
    expect(at('tags.e').accepted()).toBe('tags.env ');
    expect(at('tag.my').accepted()).toBe('tag.`my-key` ');
    expect(at('tag.na').accepted()).toBe('tag.`name` ');
    expect(at('tag.team').accepted()).toBe('tag.`team.name` ');
    expect(at('tag.`my').accepted()).toBe('tag.`my-key` ');
    expect(at('metadata.mlflow.t').accepted()).toBe('metadata.`mlflow.trace.user` ');
    expect(at("turns > 2 AND request_metadata.app", 'sessions').accepted()).toBe('turns > 2 AND request_metadata.`app.version` ');
    expect(writtenKey('größe')).toBe('größe');
    expect(writtenKey('a`b')).toBe('`a``b`');
  });

  it("offers a field's comparators after it", () => {
    expect(at('trace.text ').labels).toEqual(['LIKE', 'ILIKE', 'MATCH']);
    expect(at('trace.text M').accepted()).toBe('trace.text MATCH ');
    expect(at('tag.env ').labels).toContain('IS NOT NULL');
    expect(at('turns ', 'sessions').labels).toEqual(['=', '!=', '<', '<=', '>', '>=']);
    // Plain words are no field: nothing to offer.
    expect(at('refund ').context).toBeNull();
    expect(at('refund late').context).toBeNull();
  });

  it('asks for user and session ids in their values, quoted or not yet, and writes them quoted', () => {
    const open = at("user = 'al", 'sessions', ['alice', "al'bert"]);
    expect(open.context).toMatchObject({ kind: 'value', values: 'user', typed: 'al', quote: "'" });
    expect(open.accepted()).toBe("user = 'alice' ");
    expect(open.accepted(1)).toBe("user = 'al''bert' ");
    expect(at("metadata.`mlflow.trace.session` = ", 'traces', ['conv-1']).accepted()).toBe("metadata.`mlflow.trace.session` = 'conv-1' ");
    expect(at('session_id IN (\'a\', "c', 'sessions', ['conv-1']).accepted()).toBe('session_id IN (\'a\', "conv-1" ');
    expect(at("user_id LIKE 'x", 'users').context).toMatchObject({ kind: 'value', values: 'user', typed: 'x' });
    // Within a closed value the whole of it is replaced.
    expect(at("user = 'al|ice' AND turns > 1", 'sessions', ['alina']).accepted()).toBe("user = 'alina'  AND turns > 1");
    // Other values are not offered.
    expect(at("trace.status = 'O").context).toBeNull();
  });

  it('offers AND and OR after a value, and nothing within a number or a closed string', () => {
    expect(at("trace.status = 'OK' ").labels).toEqual(['AND', 'OR']);
    expect(at("trace.status = 'OK' o").accepted()).toBe("trace.status = 'OK' OR ");
    expect(at('trace.cost > 1').context).toBeNull();
    expect(at("trace.status = 'OK'").context).toBeNull();
  });
});
