import { RE2JS } from 're2js';
import { DETECTOR_NAMES, type DetectorName } from './detectors.js';

/** An operator's own pattern: what it finds is replaced by `[REDACTED:<name>]`. */
export interface CustomPattern {
  name: string;
  /** RE2 syntax (no lookaround, no backreferences); inline flags such as `(?i)` apply. */
  pattern: string;
}

/** What to redact: built-in detectors and custom patterns. */
export interface RedactionRules {
  detectors: readonly DetectorName[];
  patterns: readonly CustomPattern[];
}

export const NO_REDACTION: RedactionRules = { detectors: [], patterns: [] };

/** Custom patterns in one set of rules (per server, per experiment). */
export const MAX_CUSTOM_PATTERNS = 32;
/** Characters in one custom pattern. */
export const MAX_PATTERN_LENGTH = 1_000;
/**
 * RE2 instructions in one compiled pattern: what matching may cost per character of text where
 * RE2 cannot use its DFA. `EMP-\d{6}` is 12; `[a-z]{200}x` is 203.
 */
export const MAX_PATTERN_PROGRAM_SIZE = 2_000;
/** A pattern's name goes into the replacement text: short, and nothing that could break it. */
const PATTERN_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,39}$/;

/** Rules that cannot be used, with the reason; the HTTP layer answers 400, the CLI exits. */
export class RedactionRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedactionRuleError';
  }
}

export function isEmptyRules(rules: RedactionRules): boolean {
  return rules.detectors.length === 0 && rules.patterns.length === 0;
}

/** Both sets together: the detectors of either, the patterns of both. */
export function combineRules(a: RedactionRules, b: RedactionRules): RedactionRules {
  if (isEmptyRules(b)) return a;
  if (isEmptyRules(a)) return b;
  return { detectors: DETECTOR_NAMES.filter((d) => a.detectors.includes(d) || b.detectors.includes(d)), patterns: [...a.patterns, ...b.patterns] };
}

/**
 * A comma-separated list of detectors, as `--redact` takes it: `all` or names among
 * {@link DETECTOR_NAMES}; duplicates and blanks ignored.
 *
 * @example
 * parseDetectorList('email, phone') // ['email', 'phone']
 */
export function parseDetectorList(text: string): DetectorName[] {
  const names = text
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (names.length === 1 && names[0]!.toLowerCase() === 'all') return [...DETECTOR_NAMES];
  return checkedDetectors(names, 'detectors');
}

/**
 * One `--redact-pattern` value, `name=regex`, checked.
 *
 * @example
 * parsePatternAssignment('employee_id=EMP-\\d{6}') // { name: 'employee_id', pattern: 'EMP-\\d{6}' }
 */
export function parsePatternAssignment(text: string): CustomPattern {
  const equals = text.indexOf('=');
  if (equals <= 0) throw new RedactionRuleError(`'${text.slice(0, 60)}' is not name=regex (e.g. employee_id=EMP-\\d{6}).`);
  return checkedPattern({ name: text.slice(0, equals).trim(), pattern: text.slice(equals + 1) }, 'pattern');
}

/**
 * Rules as JSON (the redaction API's body): `{"detectors": [...], "patterns": [{"name", "pattern"}]}`,
 * both optional, checked.
 */
export function parseRulesJson(raw: unknown): RedactionRules {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new RedactionRuleError('The rules must be an object {"detectors": [...], "patterns": [{"name": ..., "pattern": ...}]}.');
  }
  const { detectors = [], patterns = [] } = raw as Record<string, unknown>;
  if (!Array.isArray(detectors) || !detectors.every((d) => typeof d === 'string')) {
    throw new RedactionRuleError(`'detectors' must be a list of names among ${DETECTOR_NAMES.join(', ')}.`);
  }
  if (!Array.isArray(patterns)) throw new RedactionRuleError(`'patterns' must be a list of {"name": ..., "pattern": ...}.`);
  return checkedRules({
    detectors: checkedDetectors(detectors as string[], 'detectors'),
    patterns: patterns.map((p, i) => {
      if (typeof p !== 'object' || p === null || typeof (p as CustomPattern).name !== 'string' || typeof (p as CustomPattern).pattern !== 'string') {
        throw new RedactionRuleError(`patterns[${i}] must be {"name": "<name>", "pattern": "<RE2 regex>"}.`);
      }
      return checkedPattern(p as CustomPattern, `patterns[${i}]`);
    }),
  });
}

/** Rules whose parts were each checked, checked as a whole: pattern count and unique names. */
export function checkedRules(rules: RedactionRules): RedactionRules {
  if (rules.patterns.length > MAX_CUSTOM_PATTERNS) throw new RedactionRuleError(`At most ${MAX_CUSTOM_PATTERNS} custom patterns; got ${rules.patterns.length}.`);
  const names = new Set<string>();
  for (const { name } of rules.patterns) {
    if (names.has(name)) throw new RedactionRuleError(`Two custom patterns are named '${name}'; names must be unique.`);
    names.add(name);
  }
  return rules;
}

function checkedDetectors(names: readonly string[], where: string): DetectorName[] {
  const unknown = names.filter((n) => !(DETECTOR_NAMES as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new RedactionRuleError(`Unknown ${where} ${unknown.map((n) => `'${n.slice(0, 40)}'`).join(', ')}: the built-in detectors are ${DETECTOR_NAMES.join(', ')}.`);
  }
  return DETECTOR_NAMES.filter((d) => names.includes(d));
}

function checkedPattern({ name, pattern }: CustomPattern, where: string): CustomPattern {
  if (!PATTERN_NAME.test(name)) {
    throw new RedactionRuleError(`${where}: the name '${name.slice(0, 60)}' must start with a letter and have up to 40 letters, digits, '_', '.' or '-'.`);
  }
  if ((DETECTOR_NAMES as readonly string[]).includes(name)) throw new RedactionRuleError(`${where}: '${name}' is a built-in detector; give the pattern a name of its own.`);
  compilePattern(pattern, `${where} '${name}'`);
  return { name, pattern };
}

/**
 * A custom pattern on RE2, which matches in time linear in the text whatever the pattern
 * (`(a+)+$` included), so a pattern cannot stall ingest. Refused: what RE2 cannot compile, what
 * is too long or too large a program, and what matches the empty string (it would redact
 * nothing, or everything between characters).
 */
export function compilePattern(pattern: string, where: string): RE2JS {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) throw new RedactionRuleError(`${where}: a pattern has 1 to ${MAX_PATTERN_LENGTH} characters.`);
  // Kept in a text column, which cannot hold NUL on PostgreSQL; `\x00` in the pattern matches one.
  if (pattern.includes('\u0000')) throw new RedactionRuleError(`${where}: write a NUL character as \\x00, not as the character itself.`);
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (error) {
    throw new RedactionRuleError(`${where}: not a valid RE2 regular expression (${(error as Error).message}).`);
  }
  if (re.programSize() > MAX_PATTERN_PROGRAM_SIZE) {
    throw new RedactionRuleError(`${where}: the pattern compiles to ${re.programSize()} instructions, more than ${MAX_PATTERN_PROGRAM_SIZE}; use smaller repetition counts.`);
  }
  if (re.test('')) throw new RedactionRuleError(`${where}: the pattern matches empty text; it must match at least one character.`);
  return re;
}
