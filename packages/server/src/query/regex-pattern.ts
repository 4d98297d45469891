import { MAX_LIKE_PATTERN_LENGTH, MAX_REGEX_PATTERN_LENGTH } from './limits.js';

/**
 * RLIKE patterns run as JavaScript regular expressions on SQLite (the `regexp` function the store
 * registers, see {@link rlikeRegExp}) and as POSIX AREs (`~`) on PostgreSQL. This module admits
 * the subset that means the same on both, and refuses the rest before it reaches SQL, where an
 * invalid pattern would be a 500 on either database.
 */

/**
 * Flags of the JavaScript side: `s` so that `.` matches a newline as it does in an ARE, `u` so
 * that `.` and classes take whole code points as PostgreSQL does on UTF-8 text. `u` is also the
 * stricter syntax, so a pattern accepted here compiles with or without it.
 */
export const RLIKE_FLAGS = 'su';

/**
 * The JavaScript regular expression an RLIKE pattern means; what SQLite's `regexp` function
 * should run (unanchored `test`). Throws on a pattern {@link regexPatternProblem} refuses.
 *
 * @example
 * connection.function('regexp', { deterministic: true }, (p, v) => (typeof p === 'string' && typeof v === 'string' && rlikeRegExp(p).test(v) ? 1 : 0));
 */
export function rlikeRegExp(pattern: string): RegExp {
  return new RegExp(pattern, RLIKE_FLAGS);
}


// Escapes with the same meaning in both engines. Letters outside this list differ: `\b` is a word
// boundary in JS but backspace in an ARE, `\y` / `\m` are ARE word anchors but a plain letter in JS.
const SHARED_LETTER_ESCAPES = new Set(['d', 'D', 's', 'S', 'w', 'W', 'n', 't', 'r', 'f', 'v']);
// ARE caps repetition counts at 255 (RE_DUP_MAX).
const MAX_REPEAT = 255;

interface GroupState {
  /** The group's body repeats something: repeating the group itself again could backtrack exponentially. */
  hasRepeat: boolean;
}

/**
 * Returns why `pattern` is refused, or `undefined` when it is fine to run on both databases.
 *
 * @example
 * regexPatternProblem('^(predict|inference)_[0-9]+'); // undefined
 * regexPatternProblem('\\bword'); // "'\\b' means a word boundary in JavaScript but ..."
 */
export function regexPatternProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_PATTERN_LENGTH) return `the pattern is longer than ${MAX_REGEX_PATTERN_LENGTH} characters`;
  // The engine-difference checks come first: their messages say more than a syntax error would.
  const problem = engineDifference(pattern);
  if (problem) return problem;
  try {
    rlikeRegExp(pattern);
  } catch (error) {
    return `it is not a valid regular expression (${(error as Error).message})`;
  }
  return undefined;
}

function engineDifference(pattern: string): string | undefined {
  const groups: GroupState[] = [{ hasRepeat: false }];
  let lastClosedGroup: GroupState | undefined;
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    const closed = lastClosedGroup;
    lastClosedGroup = undefined;
    if (c === '\\') {
      const problem = escapeProblem(pattern, i);
      if (problem) return problem;
      i += pattern[i + 1] === 'u' ? 6 : 2;
    } else if (c === '[') {
      const end = classEnd(pattern, i);
      if (typeof end === 'string') return end;
      i = end;
    } else if (c === '(') {
      const problem = groupOpenProblem(pattern, i);
      if (problem) return problem;
      groups.push({ hasRepeat: false });
      i += groupPrefixLength(pattern, i);
    } else if (c === ')') {
      if (groups.length === 1) return `')' at position ${i} closes no group`;
      lastClosedGroup = groups.pop()!;
      if (lastClosedGroup.hasRepeat) groups[groups.length - 1]!.hasRepeat = true;
      i++;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      let end = i + 1;
      let unbounded = c !== '?';
      if (c === '{') {
        const match = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
        if (!match) return `'{' at position ${i} does not start a repetition like {2} or {1,3}; escape it as '\\{'`;
        const min = Number(match[1]);
        const max = match[2] === undefined ? min : match[3] === '' ? Infinity : Number(match[3]);
        if (min > MAX_REPEAT || (max !== Infinity && max > MAX_REPEAT)) return `repetition counts above ${MAX_REPEAT} are not supported`;
        unbounded = max > 1;
        end = i + match[0].length;
      }
      if (pattern[end] === '?') end++; // lazy: same match / no-match answer in both engines
      if (closed?.hasRepeat && unbounded) {
        return `repeating a group that itself repeats (at position ${i}) can take exponential time; simplify the pattern`;
      }
      groups[groups.length - 1]!.hasRepeat ||= c !== '?';
      i = end;
    } else if (c === '}') {
      return `'}' at position ${i} must be escaped as '\\}'`;
    } else {
      i++;
    }
  }
  return undefined;
}

function escapeProblem(pattern: string, i: number): string | undefined {
  const next = pattern[i + 1] ?? '';
  if (next === 'u') {
    return /^[0-9a-fA-F]{4}$/.test(pattern.slice(i + 2, i + 6)) ? undefined : `'\\u' at position ${i} must be followed by four hex digits`;
  }
  if (/[A-Za-z0-9]/.test(next) && !SHARED_LETTER_ESCAPES.has(next)) {
    return `the escape '\\${next}' at position ${i} means different things in different regex engines; supported escapes are \\d \\D \\s \\S \\w \\W \\n \\t \\r \\f \\v \\uXXXX and a backslash before punctuation`;
  }
  return undefined;
}

/** Index just past the bracket expression opening at `start`, or why it is refused. */
function classEnd(pattern: string, start: number): number | string {
  let i = start + 1;
  if (pattern[i] === '^') i++;
  // JS reads `[]` as "nothing" and `[^]` as "anything"; POSIX reads a leading `]` as a literal.
  if (pattern[i] === ']') return `']' right after '[' at position ${start} is read differently by different regex engines; escape it as '\\]'`;
  while (i < pattern.length && pattern[i] !== ']') {
    const c = pattern[i]!;
    if (c === '\\') {
      const problem = escapeProblem(pattern, i);
      if (problem) return problem;
      i += pattern[i + 1] === 'u' ? 6 : 2;
      continue;
    }
    // POSIX classes such as [[:alpha:]] mean nothing special in JS.
    if (c === '[' && /[:=.]/.test(pattern[i + 1] ?? '')) {
      return `'[${pattern[i + 1]}' at position ${i} (a POSIX class) is not supported; use \\d, \\w, \\s or explicit ranges`;
    }
    i++;
  }
  return i + 1;
}

function groupPrefixLength(pattern: string, i: number): number {
  if (pattern[i + 1] !== '?') return 1;
  return pattern[i + 2] === '<' ? 4 : 3;
}

function groupOpenProblem(pattern: string, i: number): string | undefined {
  if (pattern[i + 1] !== '?') return undefined;
  const head = pattern.slice(i, i + 4);
  if (head.startsWith('(?:') || head.startsWith('(?=') || head.startsWith('(?!') || head === '(?<=' || head === '(?<!') return undefined;
  return `the group syntax '${pattern.slice(i, i + 3)}' at position ${i} is not supported; use (...), (?:...), (?=...) or (?!...)`;
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
