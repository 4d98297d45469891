import type { FilterFieldJson, FilterSuggestionsJson, FilterValueKind } from '@threadline/protocol';
// The server's lexer and key rules (dependency-free), so that completion reads the filter as the
// server will, and writes keys the way it accepts them.
import { REMAPPED_KEYS } from '../../server/src/query/filter-entities.js';
import { isBareName, readIdentifier, tokenize, type IdentifierToken, type Token } from '../../server/src/query/filter-lexer.js';

/**
 * Completion in the filter boxes: what the text before the caret is in the middle of (a field
 * name, a tag or metadata key after `tag.` / `metadata.`, a comparator, a user or session id, AND
 * or OR), and what to offer there. The language's fields and keys come from the server
 * (`filter-suggestions`); the ids, by prefix, too.
 */

/** Where the caret is, as completion sees it; `from`..`to` is the text an accepted suggestion replaces. */
export type CompletionContext = { from: number; to: number; typed: string } & (
  | { kind: 'field' }
  | { kind: 'key'; keys: 'tag' | 'metadata' }
  | { kind: 'operator'; field: FilterFieldJson }
  /** `quote`: the quote the value was opened with, or null when none is typed yet. */
  | { kind: 'value'; values: FilterValueKind; quote: string | null }
  | { kind: 'connective' }
);

export interface Suggestion {
  /** What the list shows. */
  label: string;
  /** Said beside it, muted. */
  detail?: string;
  /** Replaces the context's `from`..`to`. */
  insert: string;
}

/** The filter's tokens before the caret; a quote left open is closed for the lexer, and said. */
function tokensBefore(before: string): { tokens: Token[]; open: boolean } | null {
  try {
    return { tokens: tokenize(before).slice(0, -1), open: false };
  } catch (error) {
    // The lexer stops at the first thing it cannot read and says where: an open quote there is
    // what is being typed.
    const at = [...String((error as Error).message).matchAll(/position (\d+)/g)].pop();
    const quote = at ? before[Number(at[1])] : undefined;
    if (quote !== "'" && quote !== '"' && quote !== '`') return null;
    try {
      return { tokens: tokenize(before + quote).slice(0, -1), open: true };
    } catch {
      return null;
    }
  }
}

const isKeyword = (token: Token | undefined, ...keywords: string[]): boolean => token?.kind === 'keyword' && keywords.includes(token.keyword);

/** Whether a clause may start at token `i`: at the start, after `(`, AND, OR, or a NOT that starts one. */
function startsClause(tokens: readonly Token[], i: number): boolean {
  const before = tokens[i - 1];
  if (!before) return true;
  if (before.kind === '(') return !isKeyword(tokens[i - 2], 'IN');
  if (isKeyword(before, 'AND', 'OR')) return true;
  return isKeyword(before, 'NOT') && startsClause(tokens, i - 1);
}

/** The written name of a field or identifier, quotes resolved: ``metadata.`a.b` `` and `metadata.a.b` alike. */
const plainName = (token: IdentifierToken): string => token.parts.map((p) => p.text).join('.');

/** The field an identifier names among `fields`: by its name, or by the prefix of a family (`tag.env`). */
export function fieldOf(token: IdentifierToken, fields: readonly FilterFieldJson[]): FilterFieldJson | undefined {
  const name = plainName(token);
  return (
    fields.find((f) => !f.name.endsWith('.') && plainName(readIdentifier(f.name, 0)) === name) ??
    fields.find((f) => f.name.endsWith('.') && [f.name, ...(f.aliases ?? [])].some((prefix) => name.startsWith(prefix) && name.length > prefix.length))
  );
}

/** The field of the clause whose value token `i` would be: the identifier before its comparator. */
function fieldOfValue(tokens: readonly Token[], i: number, fields: readonly FilterFieldJson[]): FilterFieldJson | undefined {
  for (let j = i - 1; j >= 0; j--) {
    const token = tokens[j]!;
    if (token.kind === 'identifier') return fieldOf(token, fields);
    const inList = token.kind === '(' || token.kind === ',' || token.kind === 'string' || token.kind === 'number';
    if (!inList && token.kind !== 'operator' && !isKeyword(token, 'IN', 'NOT', 'LIKE', 'ILIKE', 'RLIKE')) return undefined;
  }
  return undefined;
}

/**
 * What the caret at `caret` in `text` is in the middle of, or null where nothing is offered
 * (within a number, a closed string, after an unknown field, plain words).
 *
 * @example
 * completionContext("user = 'al", 10, fields); // { kind: 'value', values: 'user', quote: "'", typed: 'al', from: 8, to: 10 }
 */
export function completionContext(text: string, caret: number, fields: readonly FilterFieldJson[]): CompletionContext | null {
  const before = text.slice(0, caret);
  const scanned = tokensBefore(before);
  if (!scanned) return null;
  const { tokens, open } = scanned;
  // The token being typed ends at the caret; after a space or a symbol, a new one begins there.
  const last = tokens[tokens.length - 1];
  const typing = last && last.end >= before.length && (last.kind === 'identifier' || last.kind === 'keyword' || (last.kind === 'string' && open)) ? last : undefined;
  const i = typing ? tokens.length - 1 : tokens.length;
  const previous = tokens[i - 1];
  const typed = typing ? before.slice(typing.start) : '';
  const at = { from: typing?.start ?? caret, to: caret, typed };

  if (typing?.kind === 'string') {
    const field = fieldOfValue(tokens, i, fields);
    if (!field?.values) return null;
    // Within a string the value replaces all of it, to its closing quote (or the end of the text).
    const whole = tokensBefore(text)?.tokens.find((t) => t.start === typing.start && t.kind === 'string');
    return { kind: 'value', values: field.values, quote: typing.text[0]!, from: typing.start + 1, to: whole ? Math.min(whole.end, text.length) : caret, typed: typing.value };
  }
  if (previous && (previous.kind === 'operator' || previous.kind === ',' || isKeyword(previous, 'LIKE', 'ILIKE') || (previous.kind === '(' && isKeyword(tokens[i - 2], 'IN')))) {
    const field = typing ? undefined : fieldOfValue(tokens, i, fields);
    return field?.values ? { kind: 'value', values: field.values, quote: null, ...at } : null;
  }
  if (startsClause(tokens, i)) {
    if (typing?.kind === 'identifier' && typing.parts.length > 1 && !typing.parts[0]!.quoted) {
      const family = fields.find((f) => f.keys && [f.name, ...(f.aliases ?? [])].includes(`${typing.parts[0]!.text}.`));
      if (family?.keys) {
        const from = typing.start + typing.parts[0]!.text.length + 1;
        return { kind: 'key', keys: family.keys, from, to: caret, typed: typing.parts.slice(1).map((p) => p.text).join('.') };
      }
    }
    return { kind: 'field', ...at };
  }
  if (previous?.kind === 'identifier' && startsClause(tokens, i - 1)) {
    const field = fieldOf(previous, fields);
    return field ? { kind: 'operator', field, ...at } : null;
  }
  // Right after a number, a string or `)` the caret is still in it: AND and OR come after a space.
  const afterValue = previous && (previous.kind === 'string' || previous.kind === 'number' || previous.kind === ')' || isKeyword(previous, 'NULL'));
  if (afterValue && (typing || /\s$/.test(before))) return { kind: 'connective', ...at };
  return null;
}

/** A key as the language takes it after `tag.` or `metadata.`: bare when it can be, else in backticks. */
export function writtenKey(key: string): string {
  return isBareName(key) && !REMAPPED_KEYS.has(key.toLowerCase()) ? key : `\`${key.replace(/`/g, '``')}\``;
}

/** A value in quotes, the quote doubled inside, as the language reads it. */
const quoted = (value: string, quote: string) => `${quote}${value.split(quote).join(quote + quote)}${quote}`;

/** Whether `candidate` is offered for `typed`: it begins so (any case), or one of its dotted parts does. */
const offered = (candidate: string, typed: string): boolean => {
  const t = typed.toLowerCase();
  return candidate.toLowerCase().startsWith(t) || candidate.toLowerCase().split(/[.`]/).some((part) => part.startsWith(t));
};

/**
 * The suggestions for a context: from the language's fields and keys (`known`), and for a value
 * the ids the server found for what is typed (`values`). What is typed in full is not offered again.
 */
export function suggestionsFor(context: CompletionContext, known: FilterSuggestionsJson, values: readonly string[] = []): Suggestion[] {
  const { typed } = context;
  const fresh = (s: Suggestion) => s.insert.trim() !== typed;
  switch (context.kind) {
    case 'field': {
      const matching = known.fields.filter((f) => offered(f.name, typed) || (f.aliases ?? []).some((a) => a.startsWith(typed)));
      // Those that begin with what is typed first; the server's order otherwise.
      matching.sort((a, b) => Number(!a.name.startsWith(typed)) - Number(!b.name.startsWith(typed)));
      return matching.map((f) => ({ label: f.name, detail: f.description, insert: f.name.endsWith('.') ? f.name : `${f.name} ` })).filter(fresh);
    }
    case 'key': {
      const keys = context.keys === 'tag' ? known.tag_keys : known.metadata_keys;
      return keys.filter((k) => k.toLowerCase().startsWith(typed.toLowerCase())).map((k) => ({ label: k, detail: `${context.keys} key`, insert: `${writtenKey(k)} ` }));
    }
    case 'operator':
      return context.field.operators.filter((op) => op.startsWith(typed.toUpperCase())).map((op) => ({ label: op, insert: `${op} ` })).filter(fresh);
    case 'value':
      // The server's answer to what was typed before may still be showing: only what fits now.
      return values.filter((v) => v.startsWith(typed)).map((v) => ({ label: v, detail: context.values, insert: context.quote === null ? `${quoted(v, "'")} ` : `${quoted(v, context.quote).slice(1)} ` }));
    case 'connective':
      return ['AND', 'OR'].filter((c) => c.startsWith(typed.toUpperCase())).map((c) => ({ label: c, insert: `${c} ` })).filter(fresh);
  }
}
