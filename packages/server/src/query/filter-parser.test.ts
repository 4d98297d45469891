import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.js';
import { canonicalFilter, type ClauseNode, type FilterNode } from './filter-ast.js';
import { parseFilter } from './filter-parser.js';
import {
  MAX_FILTER_CLAUSES,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LENGTH,
  MAX_LIKE_PATTERN_LENGTH,
  MAX_LIST_VALUES,
  MAX_ORDER_BY_KEYS,
  MAX_REGEX_PATTERN_LENGTH,
} from './limits.js';
import { parseOrderBy } from './order-by.js';
import { likePatternProblem, portableRegex, regexPatternProblem } from './regex-pattern.js';
import { rollupFieldResolver } from './rollup-search.js';
import { SESSION_LANGUAGE } from './session-search.js';

/** A compact rendering of a tree: clauses by their source text, booleans as prefix forms. */
function shape(node: FilterNode | undefined, text: string): unknown {
  if (!node) return null;
  switch (node.kind) {
    case 'and':
    case 'or':
      return [node.kind, ...node.operands.map((o) => shape(o, text))];
    case 'not':
      return ['not', shape(node.operand, text)];
    default:
      return text.slice(node.range.start, node.range.end);
  }
}

function clause(text: string): ClauseNode {
  const node = parseFilter(text);
  if (!node || node.kind === 'and' || node.kind === 'or' || node.kind === 'not') throw new Error(`not a clause: ${text}`);
  return node;
}

function errorOf(text: string): ApiError {
  try {
    parseFilter(text);
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error(`no error for ${text}`);
}

describe('parseFilter: boolean layer', () => {
  it.each([
    ["a.x = '1'", null],
    ["tag.a = '1' OR tag.b = '2' AND tag.c = '3'", ['or', "tag.a = '1'", ['and', "tag.b = '2'", "tag.c = '3'"]]],
    ["(tag.a = '1' OR tag.b = '2') AND tag.c = '3'", ['and', ['or', "tag.a = '1'", "tag.b = '2'"], "tag.c = '3'"]],
    ["NOT tag.a = '1' AND tag.b = '2'", ['and', ['not', "tag.a = '1'"], "tag.b = '2'"]],
    ["NOT (tag.a = '1' AND tag.b = '2')", ['not', ['and', "tag.a = '1'", "tag.b = '2'"]]],
    ["NOT NOT tag.a = '1'", ['not', ['not', "tag.a = '1'"]]],
    ["tag.a = '1' AND (tag.b = '2' AND tag.c = '3')", ['and', "tag.a = '1'", "tag.b = '2'", "tag.c = '3'"]],
    ["tag.a = '1' or (tag.b = '2' OR tag.c = '3')", ['or', "tag.a = '1'", "tag.b = '2'", "tag.c = '3'"]],
    ["((tag.a = '1'))", "tag.a = '1'"],
    ["and tag.a = '1' and", "tag.a = '1'"],
  ])('%s', (text, expected) => {
    if (expected === null) {
      expect(() => parseFilter(text)).toThrow(ApiError);
      return;
    }
    expect(shape(parseFilter(text), text)).toEqual(expected);
  });

  it('records source ranges for every node', () => {
    const text = "NOT tag.a = '1'";
    expect(parseFilter(text)!.range).toEqual({ start: 0, end: text.length });
  });

  it('means nothing for an empty or blank filter', () => {
    expect(parseFilter('')).toBeUndefined();
    expect(parseFilter(' \n\t')).toBeUndefined();
  });
});

describe('parseFilter: identifiers', () => {
  it.each([
    ['status = "OK"', { kind: 'trace-attribute', key: 'status' }],
    ["`trace`.status = 'OK'", { kind: 'trace-attribute', key: 'status' }],
    ['`timestamp` > 1', { kind: 'trace-attribute', key: 'timestamp_ms' }],
    ['attributes.execution_time < 5', { kind: 'trace-attribute', key: 'execution_time_ms' }],
    ["name = 'x'", { kind: 'tag', key: 'mlflow.traceName' }],
    ["run_id = 'r'", { kind: 'metadata', key: 'mlflow.sourceRun' }],
    ["tag.a.b.c = 'x'", { kind: 'tag', key: 'a.b.c' }],
    ["tags.`my key` = 'x'", { kind: 'tag', key: 'my key' }],
    ["tags.`name` = 'x'", { kind: 'tag', key: 'name' }],
    ["tag.größe = 'x'", { kind: 'tag', key: 'größe' }],
    ["metadata.mlflow.trace.session = 'x'", { kind: 'metadata', key: 'mlflow.trace.session' }],
    ["metadata.`mlflow.trace.session` = 'x'", { kind: 'metadata', key: 'mlflow.trace.session' }],
    [`request_metadata."mlflow.trace.user" = 'x'`, { kind: 'metadata', key: 'mlflow.trace.user' }],
    ["span.attributes.`mlflow.llm.model` = 'x'", { kind: 'span-attribute', name: 'mlflow.llm.model' }],
    ["span.attributes.a.b = 'x'", { kind: 'span-attribute', name: 'a.b' }],
    ["span.type = 'LLM'", { kind: 'span-column', key: 'type' }],
    ["trace.text LIKE '%x%'", { kind: 'text' }],
    ["feedback.`user satisfaction` = 'yes'", { kind: 'assessment', assessmentKind: 'feedback', name: 'user satisfaction' }],
    ["expectation.fmt = 'x'", { kind: 'assessment', assessmentKind: 'expectation', name: 'fmt' }],
    ["issue.id = 'x'", { kind: 'issue' }],
    ['prompt = "p/1"', { kind: 'prompt' }],
  ])('%s', (text, field) => {
    expect(clause(text).field).toEqual(field);
  });
});

describe('parseFilter: values', () => {
  const valueOf = (text: string) => {
    const node = clause(text);
    return node.kind === 'comparison' ? node.value.value : node.kind === 'in-list' ? node.values : null;
  };

  it.each([
    ["tag.a = 'it''s'", "it's"],
    ["tag.a = 'it\\'s'", "it's"],
    [`tag.a = "say ""hi"""`, 'say "hi"'],
    [`tag.a = "L'Hosp"`, "L'Hosp"],
    ["tag.a LIKE '50\\%'", '50\\%'],
    ["tag.a = 'ends with \\\\'", 'ends with \\\\'],
    ["tag.a RLIKE 'v2\\.[0-9]'", 'v2\\.[0-9]'],
    ["tag.a = ''", ''],
    ['trace.timestamp_ms > 1e3', 1000],
    ['trace.timestamp_ms > -5', -5],
    ["trace.execution_time_ms > '1000'", 1000],
    ['feedback.score >= 4.5', 4.5],
    ["feedback.score < ' 3 '", 3],
    ["trace.status IN ('OK', \"ERROR\",)", ['OK', 'ERROR']],
    ["tag.a NOT IN ('x')", ['x']],
  ])('%s', (text, value) => {
    expect(valueOf(text)).toEqual(value);
  });

  it('keeps IS NULL and IS NOT NULL apart', () => {
    expect(clause('tag.a is null')).toMatchObject({ kind: 'null-check', negated: false });
    expect(clause('tag.a IS NOT NULL')).toMatchObject({ kind: 'null-check', negated: true });
  });
});

describe('parseFilter: errors name the token and its position', () => {
  it.each([
    ["trace.status = 'OK' tag.a = 'b'", "'tag.a' at position 20"],
    ["trace.status = 'OK' $", "'$' at position 20"],
    ["tag.a = 'x' AND 'y'", "''y'' at position 16"],
    ['tag.a = ', "'<end of filter>' at position 8"],
    ["tag.a = 'x' AND (tag.b = 'y'", "'<end of filter>' at position 28"],
    ["tag.`open = 'x'", 'unterminated quoted name'],
    ['tag.a = 1abc', "'1abc' at position 8"],
  ])('%s', (text, mentions) => {
    const error = errorOf(text);
    expect(error.status).toBe(400);
    expect(error.message).toContain(mentions);
  });
});

describe('canonicalFilter', () => {
  it('is the same for the same meaning spelled differently', () => {
    const a = canonicalFilter(parseFilter("trace.status = 'OK' AND tag.`env` = 'prod'"));
    expect(canonicalFilter(parseFilter('status = "OK" and tags.env = "prod"'))).toBe(a);
    expect(canonicalFilter(parseFilter("trace.status = 'OK' AND tag.env = 'dev'"))).not.toBe(a);
    expect(canonicalFilter(undefined)).toBe('');
  });
});

describe('parseOrderBy', () => {
  const render = (orderBy?: string[]) => parseOrderBy(orderBy).map((k) => `${k.id} ${k.direction}`);

  it('appends the tie-breakers unless present', () => {
    expect(render(undefined)).toEqual(['timestamp_ms DESC', 'request_id ASC']);
    expect(render(['execution_time'])).toEqual(['execution_time_ms ASC', 'timestamp_ms DESC', 'request_id ASC']);
    expect(render(['request_id desc', 'timestamp'])).toEqual(['request_id DESC', 'timestamp_ms ASC']);
  });

  it('resolves aliases and prefixes', () => {
    expect(render(['name', 'run_id DESC', 'tags.`my key`', 'metadata.`mlflow.trace.user`', 'end_time'])).toEqual([
      'tag:mlflow.traceName ASC',
      'metadata:mlflow.sourceRun DESC',
      'tag:my key ASC',
      'metadata:mlflow.trace.user ASC',
      'end_time_ms ASC',
      'timestamp_ms DESC',
      'request_id ASC',
    ]);
  });
});

describe('regexPatternProblem', () => {
  it.each(['^(predict|inference)_[0-9]+', 'us-(east|west)-[0-9]', '^llm\\.', 'a.*b', '\\d{2,4}', '[^a-z\\]]', '(?:ab)+', '', '\\u00e9', '(a+)+', '(a*)*', '(a|b*){2,}', '(a{10}){100}'])(
    'accepts %j',
    (pattern) => {
      expect(regexPatternProblem(pattern)).toBeUndefined();
    },
  );

  it.each([
    ['(', 'not a valid regular expression'],
    // JavaScript's u mode (the stricter syntax) refuses these; an ARE would read them as literals.
    ['a\\-b', 'not a valid regular expression'],
    ['a]', 'not a valid regular expression'],
    ['\\bword', '\\b'],
    ['\\x41', '\\x'],
    ['\\1', '\\1'],
    ['[[:digit:]]', 'POSIX'],
    ['[]a]', "']' right after '['"],
    ['(?<name>a)', 'group syntax'],
    ['x(?=y)', 'lookahead'],
    ['x(?!y)', 'lookahead'],
    ['(?<=a)b', 'lookahead'],
    ['(?<!a)b', 'lookahead'],
    ['a{256}', '255'],
    ['(a{10}){101}', 'too large'],
    ['(?:.{250}){4}'.repeat(2), 'too large'],
    ['[\\D]', 'inside [...]'],
    ['[a\\W]', 'inside [...]'],
    ['\\u0000', 'NUL'],
    ['\\ud83d', 'surrogate'],
    ['a{', "'{'"],
    ['a}', "'}'"],
    ['\\u12', 'four hex digits'],
    ['x'.repeat(1001), 'longer than'],
  ])('refuses %j', (pattern, mentions) => {
    expect(regexPatternProblem(pattern)).toContain(mentions);
  });
});

describe('portableRegex', () => {
  it.each([
    ['^v\\d+\\.x', '^v[0-9]+\\.x'],
    ['\\w\\W\\s\\S\\D', '[0-9A-Za-z_][^0-9A-Za-z_][\\t\\n\\v\\f\\r ][^\\t\\n\\v\\f\\r ][^0-9]'],
    ['[\\d\\s-]', '[0-9\\t\\n\\v\\f\\r -]'],
    ['\\u00e9\\u002e[\\u005d]\\ud83d\\ude00', 'é\\.[\\]]😀'],
    ['(?:a|b)+?\\n', '(?:a|b)+?\\n'],
  ])('writes %j as %j for both engines', (pattern, portable) => {
    expect(regexPatternProblem(pattern)).toBeUndefined();
    expect(portableRegex(pattern)).toBe(portable);
  });
});

describe('likePatternProblem', () => {
  it('refuses only a lone trailing backslash', () => {
    expect(likePatternProblem('50\\%')).toBeUndefined();
    expect(likePatternProblem('a\\\\')).toBeUndefined();
    expect(likePatternProblem('a\\')).toContain('lone backslash');
    expect(likePatternProblem('a\\\\\\')).toContain('lone backslash');
  });
});

const clauses = (n: number) => Array.from({ length: n }, (_, i) => `tag.k = 'v${i}'`).join(' OR ');
const nested = (n: number, open = '(', close = ')') => `${open.repeat(n)}status = 'OK'${close.repeat(n)}`;
const list = (n: number) => `tag.k IN (${Array.from({ length: n }, (_, i) => `'v${i}'`).join(', ')})`;

describe('filter size limits', () => {
  it.each([
    ['clauses', clauses(MAX_FILTER_CLAUSES), clauses(MAX_FILTER_CLAUSES + 1), `at most ${MAX_FILTER_CLAUSES} clauses`],
    ['levels of parentheses', nested(MAX_FILTER_DEPTH), nested(MAX_FILTER_DEPTH + 1), `at most ${MAX_FILTER_DEPTH} levels`],
    ['levels of NOT', nested(MAX_FILTER_DEPTH, 'NOT ', ''), nested(MAX_FILTER_DEPTH + 1, 'NOT ', ''), `at most ${MAX_FILTER_DEPTH} levels`],
    ['list values', list(MAX_LIST_VALUES), list(MAX_LIST_VALUES + 1), `at most ${MAX_LIST_VALUES} values`],
    [
      'list values over several lists',
      `${list(MAX_LIST_VALUES / 2)} OR ${list(MAX_LIST_VALUES / 2)}`,
      `${list(MAX_LIST_VALUES / 2)} OR ${list(MAX_LIST_VALUES / 2 + 1)}`,
      `at most ${MAX_LIST_VALUES} values in all`,
    ],
    ['LIKE pattern length', `tag.k LIKE '${'a'.repeat(MAX_LIKE_PATTERN_LENGTH)}'`, `tag.k LIKE '${'a'.repeat(MAX_LIKE_PATTERN_LENGTH + 1)}'`, `longer than ${MAX_LIKE_PATTERN_LENGTH}`],
    ['ILIKE pattern length', `tag.k ILIKE '${'%'.repeat(MAX_LIKE_PATTERN_LENGTH)}'`, `tag.k ILIKE '${'%'.repeat(MAX_LIKE_PATTERN_LENGTH + 1)}'`, `longer than ${MAX_LIKE_PATTERN_LENGTH}`],
    ['RLIKE pattern length', `tag.k RLIKE '${'a'.repeat(MAX_REGEX_PATTERN_LENGTH)}'`, `tag.k RLIKE '${'a'.repeat(MAX_REGEX_PATTERN_LENGTH + 1)}'`, `longer than ${MAX_REGEX_PATTERN_LENGTH}`],
    ['filter length', `tag.k = '${'a'.repeat(MAX_FILTER_LENGTH - 10)}'`, `tag.k = '${'a'.repeat(MAX_FILTER_LENGTH - 9)}'`, `at most ${MAX_FILTER_LENGTH}`],
  ])('%s: the limit parses, one more is a 400 that names the limit', (_what, atLimit, pastLimit, mentions) => {
    expect(parseFilter(atLimit)).toBeDefined();
    const error = errorOf(pastLimit);
    expect(error.status).toBe(400);
    expect(error.errorCode).toBe('INVALID_PARAMETER_VALUE');
    expect(error.message).toContain(mentions);
  });

  it('refuses 100,000 nested parentheses with a 400, not a stack overflow', () => {
    expect(errorOf(nested(100_000)).status).toBe(400);
    // Within the length limit too: the depth bound is what stops it.
    const deep = errorOf(nested(20_000));
    expect(deep.status).toBe(400);
    expect(deep.message).toContain(`at most ${MAX_FILTER_DEPTH} levels`);
    expect(errorOf(nested(30_000, 'NOT ', '')).status).toBe(400);
  });

  it('refuses a 20,000-term OR and a 20,000-value IN list with a 400', () => {
    expect(errorOf(clauses(20_000)).status).toBe(400);
    expect(errorOf(Array.from({ length: 3_000 }, () => "tag.k = '1'").join(' OR ')).message).toContain(`at most ${MAX_FILTER_CLAUSES} clauses`);
    expect(errorOf(list(20_000)).status).toBe(400);
  });

  it('points at the clause that crosses the limit', () => {
    const filter = clauses(MAX_FILTER_CLAUSES + 1);
    expect(errorOf(filter).message).toContain(`at position ${filter.lastIndexOf('tag.k')}`);
  });

  it('applies to the session and user languages, which share the parser', () => {
    const resolve = rollupFieldResolver(SESSION_LANGUAGE);
    expect(() => parseFilter(Array.from({ length: MAX_FILTER_CLAUSES + 1 }, () => 'turns > 1').join(' AND '), resolve)).toThrow(`at most ${MAX_FILTER_CLAUSES} clauses`);
    expect(() => parseFilter(nested(MAX_FILTER_DEPTH + 1), resolve)).toThrow(`at most ${MAX_FILTER_DEPTH} levels`);
  });

  it(`takes at most ${MAX_ORDER_BY_KEYS} order_by keys`, () => {
    const keys = Array.from({ length: MAX_ORDER_BY_KEYS + 1 }, (_, i) => `tag.k${i} DESC`);
    expect(parseOrderBy(keys.slice(0, MAX_ORDER_BY_KEYS))).toHaveLength(MAX_ORDER_BY_KEYS + 2); // + the tie-breakers
    expect(() => parseOrderBy(keys)).toThrow(`at most ${MAX_ORDER_BY_KEYS}`);
  });
});
