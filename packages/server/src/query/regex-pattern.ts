import { RE2JS } from 're2js';
import { MAX_LIKE_PATTERN_LENGTH, MAX_REGEX_PATTERN_LENGTH } from './limits.js';

/**
 * RLIKE patterns run on RE2 on SQLite (the `regexp` function the store registers, see
 * {@link compileRlike}) and as POSIX AREs (`~`) on PostgreSQL. Neither backtracks: RE2 matches in
 * time linear in the value, and PostgreSQL's engine matches with automata too (`^(a|a)*$` over
 * 100,000 characters: 3 ms), bounded besides by its statement timeout. This module admits the subset that means the same on both, refuses the rest
 * before it reaches SQL (where an invalid pattern would be a 500), and writes each accepted pattern
 * in the one form both engines read alike ({@link portableRegex}).
 *
 * The subset: literals, `.`, `^`, `$`, `|`, groups `(...)` and `(?:...)`, `* + ?` and `{n,m}` (lazy
 * or not), bracket expressions, `\d \D \w \W \s \S` (ASCII classes on both stores), `\n \t
 * \r \f \v`, `\uXXXX` and a backslash before punctuation. `.` matches newlines and whole code
 * points, as PostgreSQL does on UTF-8 text. JavaScript's `u` syntax is checked too, so that what
 * is accepted is also a valid JavaScript regular expression (what a UI may run to preview it).
 */

/**
 * The RE2 program SQLite's `regexp` function runs for a pattern from {@link portableRegex}:
 * unanchored `test`, `.` matching newlines.
 *
 * @example
 * connection.function('regexp', { deterministic: true }, (p, v) => (compileRlike(p).test(String(v)) ? 1 : 0));
 */
export function compileRlike(portable: string): RE2JS {
  return RE2JS.compile(portable, RE2JS.DOTALL);
}

// Shorthand classes, written out: their meaning on PostgreSQL follows the database's locale (in a
// UTF-8 locale `\w` matches 'é' and `\s` U+2003) and RE2's `\s` lacks `\v`, so both stores get
// the same explicit ASCII sets. Negated ones have no form inside a bracket expression.
const CLASS_ESCAPES: ReadonlyMap<string, { outside: string; inside?: string }> = new Map([
  ['d', { outside: '[0-9]', inside: '0-9' }],
  ['D', { outside: '[^0-9]' }],
  ['w', { outside: '[0-9A-Za-z_]', inside: '0-9A-Za-z_' }],
  ['W', { outside: '[^0-9A-Za-z_]' }],
  ['s', { outside: '[\\t\\n\\v\\f\\r ]', inside: '\\t\\n\\v\\f\\r ' }],
  ['S', { outside: '[^\\t\\n\\v\\f\\r ]' }],
]);
// Escapes of control characters that mean the same in all three syntaxes. Other letters differ:
// `\b` is a word boundary in JS and RE2 but backspace in an ARE, `\y` / `\m` are ARE word anchors.
const CONTROL_ESCAPES: ReadonlySet<string> = new Set(['n', 't', 'r', 'f', 'v']);
// ARE caps repetition counts at 255 (RE_DUP_MAX).
const MAX_REPEAT = 255;
/**
 * Atoms in a pattern once its counted repetitions are unrolled (`(ab){3}` is 6), as both engines
 * compile them. Matching costs up to this much per character of the value where RE2 cannot use
 * its DFA, PostgreSQL refuses patterns far beyond it as "too complex" (a 500), and RE2 refuses
 * nested counts whose product exceeds 1,000.
 */
export const MAX_REGEX_SIZE = 1_000;

/** Characters that a literal from `\uXXXX` must be escaped as, outside and inside brackets. */
const SPECIAL_OUTSIDE = /[\\^$.|?*+()[\]{}]/;
const SPECIAL_INSIDE = /[\\\]\[^-]/;

/**
 * Returns why `pattern` is refused, or `undefined` when it is fine to run on both databases.
 *
 * @example
 * regexPatternProblem('^(predict|inference)_[0-9]+'); // undefined
 * regexPatternProblem('\\bword'); // "the escape '\\b' at position 0 means different things ..."
 */
export function regexPatternProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_PATTERN_LENGTH) return `the pattern is longer than ${MAX_REGEX_PATTERN_LENGTH} characters`;
  // The engine-difference checks come first: their messages say more than a syntax error would.
  const scanned = scan(pattern);
  if ('problem' in scanned) return scanned.problem;
  if (scanned.size > MAX_REGEX_SIZE) {
    return `it is too large once its counted repetitions are unrolled (${scanned.size} characters and classes, at most ${MAX_REGEX_SIZE}); use smaller counts`;
  }
  try {
    new RegExp(pattern, 'su');
    compileRlike(scanned.portable);
  } catch (error) {
    return `it is not a valid regular expression (${(error as Error).message})`;
  }
  return undefined;
}

/**
 * The form of an accepted pattern that both stores run: shorthand classes written out as ASCII
 * sets and `\uXXXX` as the character itself. Throws on a pattern whose syntax
 * {@link regexPatternProblem} refuses (its size is not checked here).
 *
 * @example
 * portableRegex('^v\\d+\\.\\u00e9'); // '^v[0-9]+\\.é'
 */
export function portableRegex(pattern: string): string {
  const scanned = scan(pattern);
  if ('problem' in scanned) throw new Error(`not an accepted RLIKE pattern: ${scanned.problem}`);
  return scanned.portable;
}

/** One pass over a pattern: the first problem found, or its portable form and unrolled size. */
function scan(pattern: string): { problem: string } | { portable: string; size: number } {
  let out = '';
  // Unrolled size of the whole pattern so far, of each open group (outermost first) and of the
  // last atom, which a quantifier repeats.
  let size = 0;
  const groups: number[] = [0];
  let last = 0;
  const grow = (by: number) => {
    size += by;
    groups[groups.length - 1]! += by;
  };
  const atom = (text: string, atomSize = 1) => {
    out += text;
    grow(atomSize);
    last = atomSize;
  };
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const escape = readEscape(pattern, i, false);
      if ('problem' in escape) return escape;
      atom(escape.text);
      i = escape.end;
    } else if (c === '[') {
      const bracket = readBracket(pattern, i);
      if ('problem' in bracket) return bracket;
      atom(bracket.text);
      i = bracket.end;
    } else if (c === '(') {
      const problem = groupOpenProblem(pattern, i);
      if (problem) return { problem };
      const prefix = pattern[i + 1] === '?' ? '(?:' : '(';
      out += prefix;
      groups.push(0);
      i += prefix.length;
    } else if (c === ')') {
      if (groups.length === 1) return { problem: `')' at position ${i} closes no group` };
      out += ')';
      last = groups.pop()!;
      groups[groups.length - 1]! += last;
      i++;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      let end = i + 1;
      let copies = 1;
      if (c === '{') {
        const match = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!match) return { problem: `'{' at position ${i} does not start a repetition like {2} or {1,3}; escape it as '\\{'` };
        const min = Number(match[1]);
        const max = match[2] === undefined ? min : match[3] === '' ? Infinity : Number(match[3]);
        if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) return { problem: `repetition counts above ${MAX_REPEAT} are not supported` };
        copies = Math.max(1, max === Infinity ? min : max);
        end = i + match[0].length;
      }
      if (pattern[end] === '?') end++; // lazy: same match / no-match answer in both engines
      out += pattern.slice(i, end);
      grow(last * (copies - 1));
      last *= copies;
      i = end;
    } else if (c === '}') {
      return { problem: `'}' at position ${i} must be escaped as '\\}'` };
    } else {
      // A code point at a time: a surrogate pair is one atom.
      const char = String.fromCodePoint(pattern.codePointAt(i)!);
      atom(char, c === '|' ? 0 : 1);
      i += char.length;
    }
  }
  return { portable: out, size };
}

/** An escape at `start` in its portable form, or why it is refused. */
function readEscape(pattern: string, start: number, inBracket: boolean): { text: string; end: number } | { problem: string } {
  const next = pattern[start + 1] ?? '';
  if (next === 'u') {
    const decoded = readUnicodeEscape(pattern, start);
    if ('problem' in decoded) return decoded;
    const special = inBracket ? SPECIAL_INSIDE : SPECIAL_OUTSIDE;
    return { text: special.test(decoded.char) ? `\\${decoded.char}` : decoded.char, end: decoded.end };
  }
  const shorthand = CLASS_ESCAPES.get(next);
  if (shorthand) {
    const text = inBracket ? shorthand.inside : shorthand.outside;
    if (text === undefined) return { problem: `'\\${next}' at position ${start} cannot stand inside [...]; write the negated set, e.g. [^0-9] for \\D` };
    return { text, end: start + 2 };
  }
  if (/[A-Za-z0-9]/.test(next) && !CONTROL_ESCAPES.has(next)) {
    return {
      problem: `the escape '\\${next}' at position ${start} means different things in different regex engines; supported escapes are \\d \\D \\s \\S \\w \\W \\n \\t \\r \\f \\v \\uXXXX and a backslash before punctuation`,
    };
  }
  return { text: pattern.slice(start, start + 2), end: start + 2 };
}

/** `\uXXXX`, or a surrogate pair of them, as the character it names. */
function readUnicodeEscape(pattern: string, start: number): { char: string; end: number } | { problem: string } {
  const unit = (at: number) => (/^\\u[0-9a-fA-F]{4}$/.test(pattern.slice(at, at + 6)) ? parseInt(pattern.slice(at + 2, at + 6), 16) : undefined);
  const first = unit(start);
  if (first === undefined) return { problem: `'\\u' at position ${start} must be followed by four hex digits` };
  if (first === 0) return { problem: `'\\u0000' at position ${start} is not allowed: PostgreSQL text cannot hold NUL` };
  if (first >= 0xd800 && first <= 0xdbff) {
    const second = unit(start + 6);
    if (second !== undefined && second >= 0xdc00 && second <= 0xdfff) return { char: String.fromCharCode(first, second), end: start + 12 };
  }
  if (first >= 0xd800 && first <= 0xdfff) return { problem: `'\\u${pattern.slice(start + 2, start + 6)}' at position ${start} is half a surrogate pair, not a character` };
  return { char: String.fromCharCode(first), end: start + 6 };
}

/** The bracket expression opening at `start` in its portable form, or why it is refused. */
function readBracket(pattern: string, start: number): { text: string; end: number } | { problem: string } {
  let i = start + 1;
  if (pattern[i] === '^') i++;
  // JS reads `[]` as "nothing" and `[^]` as "anything"; POSIX reads a leading `]` as a literal.
  if (pattern[i] === ']') return { problem: `']' right after '[' at position ${start} is read differently by different regex engines; escape it as '\\]'` };
  let text = pattern.slice(start, i);
  while (i < pattern.length && pattern[i] !== ']') {
    const c = pattern[i]!;
    if (c === '\\') {
      const escape = readEscape(pattern, i, true);
      if ('problem' in escape) return escape;
      text += escape.text;
      i = escape.end;
      continue;
    }
    // POSIX classes such as [[:alpha:]] mean nothing special in JS.
    if (c === '[' && /[:=.]/.test(pattern[i + 1] ?? '')) {
      return { problem: `'[${pattern[i + 1]}' at position ${i} (a POSIX class) is not supported; use \\d, \\w, \\s or explicit ranges` };
    }
    text += c;
    i++;
  }
  // An unclosed bracket is left to the syntax checks, which say so.
  return { text: `${text}]`, end: i + 1 };
}

function groupOpenProblem(pattern: string, i: number): string | undefined {
  if (pattern[i + 1] !== '?') return undefined;
  const head = pattern.slice(i, i + 4);
  if (head.startsWith('(?:')) return undefined;
  if (head.startsWith('(?=') || head.startsWith('(?!') || head === '(?<=' || head === '(?<!') {
    return `lookahead and lookbehind ('${head.startsWith('(?<') ? head : head.slice(0, 3)}' at position ${i}) are not supported: RLIKE runs on RE2, which matches in linear time and has none`;
  }
  return `the group syntax '${pattern.slice(i, i + 3)}' at position ${i} is not supported; use (...) or (?:...)`;
}

/**
 * Returns why a LIKE / ILIKE pattern is refused, or `undefined`. A backslash escapes `%`, `_` and
 * itself (`ESCAPE '\'`), so a pattern may not end in a lone one; PostgreSQL would fail on it. Its
 * length is bounded: matching costs the value's length times the pattern's (see limits.ts).
 *
 * @example
 * likePatternProblem('50\\%'); // undefined
 * likePatternProblem('abc\\'); // 'it ends with a lone backslash ...'
 */
export function likePatternProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_LIKE_PATTERN_LENGTH) return `it is longer than ${MAX_LIKE_PATTERN_LENGTH} characters`;
  const trailing = /\\*$/.exec(pattern)![0].length;
  return trailing % 2 === 1 ? `it ends with a lone backslash; write '\\\\' for a literal backslash` : undefined;
}
