/**
 * Redaction of personal data and credentials inside text: the built-in detectors and the rules an
 * operator configures. It imports only the protocol package (the Luhn check, shared with the
 * server's detectors), so that any part of Threadline, the server included, can apply the same
 * definitions.
 *
 * Every built-in pattern runs in time linear in the text: no repeated group holds a quantifier,
 * every unbounded run is a single character class followed by a character outside it, and each
 * pattern starts with a look-behind that lets a match start only where a run starts (so a long run
 * of letters, a base64 image say, is scanned once, not once per position). Digits are matched by a
 * bounded candidate pattern and then validated in code (Luhn for cards, shape for phone numbers).
 */

import { luhnValid } from '@threadline/protocol';

/** Names of the built-in detectors. */
export type RedactionDetector = 'email' | 'phone' | 'credit_card' | 'api_key' | 'bearer_token';

/** Every built-in detector, in the order they are applied. */
export const REDACTION_DETECTORS: readonly RedactionDetector[] = ['bearer_token', 'api_key', 'email', 'credit_card', 'phone'];

/** A pattern of the operator's own: every match is replaced by `replacement` (default `[REDACTED]`, written as is: `$1` is not expanded). */
export interface RedactionPattern {
  pattern: RegExp;
  replacement?: string;
}

/** What to redact. */
export interface RedactionRules {
  /** Built-in detectors to apply. Default: all of them (`REDACTION_DETECTORS`); `[]` for none. */
  detectors?: readonly RedactionDetector[];
  /**
   * The operator's own patterns, applied after the detectors, each to every match (a pattern
   * without the `g` flag is applied globally all the same). Their running time is theirs: prefer
   * patterns without nested quantifiers.
   */
  patterns?: readonly (RegExp | RedactionPattern)[];
}

/** What a built-in detector writes in place of what it found: `[REDACTED:email]`, ... */
export function detectorReplacement(detector: RedactionDetector): string {
  return `[REDACTED:${detector}]`;
}

const DEFAULT_REPLACEMENT = '[REDACTED]';

interface Detector {
  /** Global; linear-time (see the module comment). */
  readonly pattern: RegExp;
  /** A cheap test that the text may hold a match at all. */
  readonly mayMatch: (text: string) => boolean;
  /** Validation of a candidate match; every match is redacted without it. */
  readonly accept?: (match: string) => boolean;
}

const hasDigit = (text: string) => /\d/.test(text);

/**
 * Runs of digits with single separators (space, `.`, `-`, parentheses, a leading `+`), 6 to 42
 * characters, that start and end a run: no digit, letter or `+` before, no digit or
 * separator-then-digit after. The bounded length keeps each attempt short; the look-arounds keep a
 * longer number from being cut into a shorter candidate (the tail of a 25-digit id is no card).
 */
const DIGIT_RUN = /(?<![\w+(]|\d[ .-]|\d\))\+?\(?\d[\d ().-]{4,40}\d(?![\w(]|[ .-]\d|\)\d)/g;

/** 13 to 19 digits, grouped by single spaces or dashes only, passing Luhn. */
function isCardNumber(candidate: string): boolean {
  if (!/^\d[\d -]*$/.test(candidate) || /[ -]{2}/.test(candidate)) return false;
  const digits = candidate.replace(/[ -]/g, '');
  return digits.length >= 13 && digits.length <= 19 && luhnValid(digits);
}

/** A date inside a digit run (`2024-01-15 10`, `15.01.2024 10`): with an hour after it, it has a phone's digit count. */
const DATE = /(?:^|\D)(?:(?:19|20)\d\d[-. ]\d{1,2}[-. ]\d{1,2}|\d{1,2}[-. ]\d{1,2}[-. ](?:19|20)\d\d)(?!\d)/;

/**
 * A phone number: `+` and 8 to 15 digits (E.164), or 10 to 11 digits in at least three groups
 * (`(555) 123-4567`, `555.123.4567`, `020 7946 0958`, `1-555-123-4567`, `01 23 45 67 89`).
 * Not: a bare digit run (ids, Unix times), two groups (decimals, coordinates), a single-digit
 * group after the first (`10.0.0.1`), an IPv4-shaped run, a number grouped by thousands
 * (`1 234 567 890`), or a date and hour.
 */
function isPhoneNumber(candidate: string): boolean {
  if (DATE.test(candidate)) return false;
  const digits = candidate.replace(/\D/g, '');
  if (candidate.startsWith('+')) return digits.length >= 8 && digits.length <= 15;
  if (digits.length < 10 || digits.length > 11) return false;
  const groups = candidate.split(/[ .()-]+/).filter((group) => group !== '');
  if (groups.length < 3) return false;
  if (groups.slice(1).some((group) => group.length < 2 || group.length > 5)) return false;
  if (groups.slice(1).every((group) => group.length === 3)) return false;
  const dotsOnly = !/[ ()-]/.test(candidate);
  if (dotsOnly && groups.length === 4 && groups.every((group) => group.length <= 3)) return false;
  return true;
}

/**
 * A match of the bearer pattern that is one: a JWT; anything after `Authorization: Bearer`; or after
 * a bare `Bearer`, a token of 8 characters or more with a digit or a symbol in it, so that prose
 * ("the bearer of bad news") is left alone.
 */
function isBearerToken(match: string): boolean {
  if (/^eyJ/i.test(match)) return /^eyJ[\w-]+\.eyJ/.test(match);
  if (/^authorization/i.test(match)) return true;
  const token = match.replace(/^bearer[ \t]+/i, '');
  return token.length >= 8 && /[\d._~+/=-]/.test(token);
}

const DETECTORS: Readonly<Record<RedactionDetector, Detector>> = {
  // `Bearer <token>` (an Authorization header quoted in text or a log line) and JWTs
  // (header.payload.signature, both JSON parts base64url of `{"`), which are bearer tokens too.
  bearer_token: {
    pattern: /(?<![\w-])(?:authorization:[ \t]*)?bearer[ \t]+[\w.~+/-]+=*|(?<![\w.-])eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/gi,
    mayMatch: (text) => /bearer|eyJ/i.test(text),
    accept: isBearerToken,
  },
  // Keys by their vendor prefix: OpenAI and Anthropic (`sk-`, `sk-proj-`, `sk-ant-`), Stripe secret
  // and restricted keys, GitHub tokens, AWS access key ids, Google API keys, Slack tokens, Hugging
  // Face and GitLab tokens. A run of random characters without such a prefix is not taken for a key:
  // ids, hashes and base64 look the same.
  api_key: {
    pattern:
      /(?<![\w-])(?:sk-[\w-]{20,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{22,}|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[\w-]{35}|xox[abposr]-[A-Za-z0-9-]{10,}|hf_[A-Za-z0-9]{30,}|glpat-[\w-]{20,})(?![\w-])/g,
    mayMatch: (text) => text.length >= 20,
  },
  email: {
    pattern: /(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]*[A-Za-z0-9]/g,
    mayMatch: (text) => text.includes('@'),
  },
  credit_card: { pattern: DIGIT_RUN, mayMatch: hasDigit, accept: isCardNumber },
  phone: { pattern: DIGIT_RUN, mayMatch: hasDigit, accept: isPhoneNumber },
};

/** One compiled rule: a global pattern, what replaces its matches, and an optional validation. */
interface CompiledRule {
  pattern: RegExp;
  replacement: string;
  mayMatch?: (text: string) => boolean;
  accept?: (match: string) => boolean;
}

function globalCopy(pattern: RegExp): RegExp {
  const flags = pattern.flags.replace('y', '');
  return new RegExp(pattern.source, flags.includes('g') ? flags : `${flags}g`);
}

/**
 * A function that redacts text by `rules`, compiled once. Never changes text that nothing matches.
 * Throws a TypeError on rules it cannot apply (an unknown detector, a pattern that is not a RegExp):
 * a redaction half-applied would pass for a complete one.
 *
 * @example
 * const redact = createRedactor({ detectors: ['email'], patterns: [/\bEMP-\d{6}\b/] });
 * redact('Mail alice@example.com about EMP-123456'); // 'Mail [REDACTED:email] about [REDACTED]'
 */
export function createRedactor(rules: RedactionRules = {}): (text: string) => string {
  for (const name of rules.detectors ?? []) {
    if (!REDACTION_DETECTORS.includes(name)) throw new TypeError(`unknown redaction detector ${JSON.stringify(name)} (known: ${REDACTION_DETECTORS.join(', ')})`);
  }
  const compiled: CompiledRule[] = [];
  for (const name of REDACTION_DETECTORS) {
    if (rules.detectors !== undefined && !rules.detectors.includes(name)) continue;
    const detector = DETECTORS[name];
    compiled.push({ pattern: detector.pattern, replacement: detectorReplacement(name), mayMatch: detector.mayMatch, ...(detector.accept !== undefined && { accept: detector.accept }) });
  }
  for (const rule of rules.patterns ?? []) {
    const { pattern, replacement } = rule instanceof RegExp ? { pattern: rule, replacement: undefined } : (rule ?? {});
    if (!(pattern instanceof RegExp)) throw new TypeError('each redaction pattern must be a RegExp or { pattern: RegExp, replacement?: string }');
    compiled.push({ pattern: globalCopy(pattern), replacement: replacement ?? DEFAULT_REPLACEMENT });
  }
  return (text) => {
    let result = text;
    for (const rule of compiled) {
      if (rule.mayMatch !== undefined && !rule.mayMatch(result)) continue;
      rule.pattern.lastIndex = 0;
      const accept = rule.accept;
      result = result.replace(rule.pattern, accept === undefined ? () => rule.replacement : (match) => (accept(match) ? rule.replacement : match));
    }
    return result;
  };
}

let defaultRedactor: ((text: string) => string) | undefined;

/**
 * `text` with what `rules` find replaced (by default every built-in detector: e-mail addresses,
 * phone numbers, payment card numbers passing Luhn, API keys by vendor prefix, bearer tokens and
 * JWTs). For repeated use, `createRedactor(rules)` compiles the rules once.
 *
 * @example
 * redactText('Call +1 415 555 0100 or mail bob@example.org');
 * // 'Call [REDACTED:phone] or mail [REDACTED:email]'
 */
export function redactText(text: string, rules?: RedactionRules): string {
  if (rules === undefined) return (defaultRedactor ??= createRedactor())(text);
  return createRedactor(rules)(text);
}
