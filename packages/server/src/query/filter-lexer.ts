import { invalidParameter, type ApiError } from '../errors.js';

/**
 * Tokens of the filter language. MLflow runs filters through the `sqlparse` SQL tokenizer; this is
 * a hand-written equivalent for the subset the language uses, with the escapes Threadline adds
 * (reference §5 and §18, quirk Q3).
 */
export type Token =
  | IdentifierToken
  | { readonly kind: 'keyword'; readonly keyword: Keyword; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: 'string'; readonly value: string; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: 'number'; readonly value: number; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: 'operator'; readonly operator: SymbolOperator; readonly text: string; readonly start: number; readonly end: number }
  | { readonly kind: '(' | ')' | ',' | 'eof'; readonly text: string; readonly start: number; readonly end: number };

/**
 * A dotted name: `tag.env`, ``metadata.`mlflow.trace.user` ``, `request_metadata."my key"`, `tags.'fruit'`.
 * Components are split at unquoted dots; a quoted component keeps its dots and spaces.
 */
export interface IdentifierToken {
  readonly kind: 'identifier';
  readonly parts: readonly IdentifierPart[];
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

export interface IdentifierPart {
  readonly text: string;
  /** Written in backticks or quotes: taken literally, never treated as an alias. */
  readonly quoted: boolean;
}

export type Keyword = 'AND' | 'OR' | 'NOT' | 'IN' | 'IS' | 'NULL' | 'LIKE' | 'ILIKE' | 'RLIKE' | 'MATCH';
export type SymbolOperator = '=' | '!=' | '<' | '<=' | '>' | '>=';

const KEYWORDS: ReadonlySet<string> = new Set<Keyword>(['AND', 'OR', 'NOT', 'IN', 'IS', 'NULL', 'LIKE', 'ILIKE', 'RLIKE', 'MATCH']);
const SYMBOL_OPERATORS: ReadonlySet<string> = new Set<SymbolOperator>(['=', '!=', '<', '<=', '>', '>=']);

// Unicode letters and digits are allowed in bare names: a key like `tag.größe` needs no quoting.
const NAME_CHAR = /[\p{L}\p{N}_]/u;
const NAME_START = /[\p{L}_]/u;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?/y;

/**
 * Whether `text` reads as one part of a dotted name without quotes: `env`, `größe`, but not
 * `my-key`, `a.b`, `2x`, nor a keyword.
 */
export function isBareName(text: string): boolean {
  return NAME_START.test(text[0] ?? '') && [...text].every((c) => NAME_CHAR.test(c)) && !KEYWORDS.has(text.toUpperCase());
}

/** A 400 that quotes the offending text and where it starts (decision 5). */
export function filterError(what: string, text: string, position: number, hint?: string): ApiError {
  const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text;
  return invalidParameter(`Invalid filter: ${what} '${shown}' at position ${position}.${hint ? ` ${hint}` : ''}`);
}

/**
 * Splits a filter into tokens, ending with an `eof` token. Throws a 400 at the first character
 * that cannot start a token.
 *
 * @example
 * tokenize("tag.env = 'prod'").map((t) => t.kind); // ['identifier', 'operator', 'string', 'eof']
 */
export function tokenize(input: string): Token[] {
  // PostgreSQL text cannot hold NUL, so a value with one would fail the query rather than match nothing.
  const nul = input.indexOf('\u0000');
  if (nul >= 0) throw filterError('unexpected character', '\\u0000', nul, 'NUL characters are not allowed.');
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const start = i;
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c, text: c, start, end: i + 1 });
      i++;
    } else if (c === "'" || c === '"') {
      const { value, end } = readQuoted(input, i, 'string');
      tokens.push({ kind: 'string', value, text: input.slice(start, end), start, end });
      i = end;
    } else if (/\d/.test(c) || (c === '-' && /\d/.test(input[i + 1] ?? ''))) {
      NUMBER.lastIndex = i;
      const text = NUMBER.exec(input)![0];
      const end = i + text.length;
      if (end < input.length && (NAME_CHAR.test(input[end]!) || input[end] === '.')) {
        const word = /^[^\s()',"=!<>]+/u.exec(input.slice(i))![0];
        throw filterError('malformed number', word, start);
      }
      tokens.push({ kind: 'number', value: Number(text), text, start, end });
      i = end;
    } else if (c === '=' || c === '!' || c === '<' || c === '>') {
      let end = i;
      while (end < input.length && '=!<>'.includes(input[end]!)) end++;
      const text = input.slice(i, end);
      if (!SYMBOL_OPERATORS.has(text)) {
        throw filterError('unknown comparator', text, start, 'Use one of =, !=, <, <=, >, >=, LIKE, ILIKE, RLIKE, IN, NOT IN, IS NULL, IS NOT NULL.');
      }
      tokens.push({ kind: 'operator', operator: text as SymbolOperator, text, start, end });
      i = end;
    } else if (NAME_START.test(c) || c === '`') {
      const token = readIdentifier(input, i);
      i = token.end;
      const only = token.parts.length === 1 ? token.parts[0]! : undefined;
      const upper = only && !only.quoted ? only.text.toUpperCase() : '';
      if (KEYWORDS.has(upper)) tokens.push({ kind: 'keyword', keyword: upper as Keyword, text: token.text, start, end: token.end });
      else tokens.push(token);
    } else if (c === ';') {
      throw filterError('unexpected', c, start, 'A filter is a single expression: join clauses with AND or OR.');
    } else if (c === '-' && input[i + 1] === '-') {
      throw filterError('comments are not supported:', input.slice(i), start);
    } else if (c === '-') {
      throw filterError('unexpected character', c, start, 'Quote keys that contain "-" or spaces with backticks, e.g. tag.`my-key`.');
    } else {
      throw filterError('unexpected character', c, start);
    }
  }
  tokens.push({ kind: 'eof', text: '<end of filter>', start: input.length, end: input.length });
  return tokens;
}

/**
 * Reads a quoted run starting at `start`. Inside it the quote is written doubled (`'it''s'`) or
 * backslash-escaped (`'it\'s'`). A doubled backslash is kept as is, so LIKE and RLIKE patterns
 * keep their own escapes (`'50\\%'`, `'v2\.[0-9]'`) and a value may end in a backslash.
 */
function readQuoted(input: string, start: number, what: 'string' | 'name'): { value: string; end: number } {
  const quote = input[start]!;
  let value = '';
  let i = start + 1;
  while (i < input.length) {
    const c = input[i]!;
    if (c === '\\' && input[i + 1] === quote) {
      value += quote;
      i += 2;
    } else if (c === '\\' && input[i + 1] === '\\') {
      value += '\\\\';
      i += 2;
    } else if (c === quote && input[i + 1] === quote) {
      value += quote;
      i += 2;
    } else if (c === quote) {
      return { value, end: i + 1 };
    } else {
      value += c;
      i++;
    }
  }
  throw filterError(`unterminated quoted ${what}`, input.slice(start), start, `Close it with ${quote}.`);
}

/**
 * Reads the dotted name starting at `start` (a name character or a backtick). Shared with the
 * order_by parser, whose keys are written the same way.
 *
 * @example
 * readIdentifier('tags.`my key` DESC', 0).parts; // [{ text: 'tags', quoted: false }, { text: 'my key', quoted: true }]
 */
export function readIdentifier(input: string, start: number): IdentifierToken {
  const parts: IdentifierPart[] = [];
  let i = start;
  for (;;) {
    const c = input[i];
    // Quotes are a string at the start of a clause but a quoted name after a dot: MLflow reads
    // tags.'fruit' and tags."fruit" as the tag called fruit.
    if (c === '`' || ((c === '"' || c === "'") && parts.length > 0)) {
      const { value, end } = readQuoted(input, i, 'name');
      parts.push({ text: value, quoted: true });
      i = end;
    } else {
      let end = i;
      while (end < input.length && NAME_CHAR.test(input[end]!)) end++;
      parts.push({ text: input.slice(i, end), quoted: false });
      i = end;
    }
    if (input[i] !== '.') break;
    i++;
  }
  return { kind: 'identifier', parts, text: input.slice(start, i), start, end: i };
}
