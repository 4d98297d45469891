/**
 * The built-in detectors: what each finds, written as JavaScript regular expressions that the
 * text redactor joins into one, so that a string is scanned once whatever the number of detectors.
 *
 * These run on V8's backtracking engine (customers' own patterns run on RE2, see rules.ts), so
 * each is written to stay linear: every match starts at a boundary that a lookbehind checks
 * (never in the middle of a run of the same characters, which would rescan the run from every
 * position), repetitions are bounded or run to the end of their character class, and groups are
 * delimited by characters they cannot contain. The hostile-input tests hold them to it.
 *
 * Sources hold no capturing group: the redactor tells the detectors apart by group number.
 */

import { luhnValid } from '@threadline/protocol';

export const DETECTOR_NAMES = ['email', 'phone', 'credit_card', 'api_key', 'bearer_token'] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];

export interface Detector {
  name: DetectorName;
  /** A JavaScript regular expression, without flags and without capturing groups. */
  source: string;
  /**
   * Something every match contains, cheap to look for (`@` for an address): a string without it
   * is not scanned for this detector at all. Most strings of a trace hold no candidate, and
   * looking for a literal is many times faster than trying a pattern at every position.
   */
  hint: RegExp;
  /**
   * The part of a match to redact, as `[start, end)` within it, or null when the match is not of
   * this kind after all (a number that fails the Luhn check). Text after `end` is scanned again.
   * Without it, the whole match is redacted.
   */
  redactedPart?(match: string): readonly [start: number, end: number] | null;
}

/** A word matched whatever its case, as a character class per letter (Node 20 has no `(?i:...)`). */
function anyCase(word: string): string {
  return word.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`);
}

// ---- e-mail ------------------------------------------------------------------------------------

/**
 * A local part of up to 64 characters (RFC 5321), `@`, one to eight dot-separated labels and a
 * top-level domain of letters. `icon@2x.png`, as image names are written, is not an address.
 * ASCII addresses only.
 */
const EMAIL =
  '(?<![A-Za-z0-9._%+\\-])[A-Za-z0-9._%+\\-]{1,64}@(?![0-9]+x\\.)' +
  '(?:[A-Za-z0-9][A-Za-z0-9\\-]{0,62}\\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\\-])';

// ---- phone numbers -----------------------------------------------------------------------------

/**
 * International: `+`, a country code and the number, 8 to 15 digits in all (E.164), written
 * together or in groups separated by one space, dot or dash, with parentheses around a group
 * (`+44 (0) 20 7946 0958`, `+1 (415) 555-2671`, `+4915123456789`). Not after a letter, digit or
 * `)`: `2+3`, `x+12345678` and `2024-01-15T10:30:00+05:30` are not numbers to call.
 */
const PHONE_INTERNATIONAL = '(?<![\\w+)])\\+[1-9][0-9]{0,14}(?:(?:[ .\\-]|[ ]?\\(|\\)[ .\\-]?)[0-9]{1,8}){0,6}(?![0-9])';

/**
 * North American (NANP) numbers without `+1`: area code (2-9 first, in parentheses or not), then
 * 3 and 4 digits, separated by a space, dot or dash, after an optional `1-`: `(415) 555-2671`,
 * `415.555.2671`, `1-800-555-0199`. Ten digits written together are not matched: they are as
 * often a timestamp in seconds or an id. Nor are parts of longer dotted or dashed numbers
 * (`10.415.555.2671`, `415-555-2671-9`).
 */
const PHONE_NANP =
  '(?<![\\w+.\\-]|[0-9][ ])(?:1[ .\\-])?(?:\\([2-9][0-9]{2}\\)[ .\\-]?|[2-9][0-9]{2}[ .\\-])[0-9]{3}[ .\\-][0-9]{4}(?![\\w]|[.\\-][0-9])';

const MIN_PHONE_DIGITS = 8;
const MAX_PHONE_DIGITS = 15;

/** NANP numbers (country code 1) have exactly 11 digits with it. */
const NANP_DIGITS = 11;

/**
 * An international number's longest prefix, ending after a group, that is a phone number: 8 to
 * 15 digits (exactly 11 after `+1`), parentheses closed, and dots, if any, as the only separator
 * (`+37.7749 -122.4194` is a coordinate). Greedy groups may take a number that follows in prose
 * (`+1 415 555 2671 24/7`); this gives it back.
 */
function internationalPhonePart(match: string): readonly [number, number] | null {
  if (!match.startsWith('+')) return [0, match.length];
  const nanp = match[1] === '1';
  const groups = /[0-9]+/g;
  let digits = 0;
  let best = 0;
  for (let g = groups.exec(match); g !== null; g = groups.exec(match)) {
    digits += g[0].length;
    if (digits > (nanp ? NANP_DIGITS : MAX_PHONE_DIGITS)) break;
    const end = g.index + g[0].length;
    // A group closed by `)` ends after it.
    const close = match[end] === ')' ? end + 1 : end;
    const prefix = match.slice(0, close);
    if ((nanp ? digits === NANP_DIGITS : digits >= MIN_PHONE_DIGITS) && balanced(prefix) && dotsAlone(prefix)) best = close;
  }
  return best > 0 ? [0, best] : null;
}

function balanced(text: string): boolean {
  let open = 0;
  for (const c of text) {
    if (c === '(') open++;
    else if (c === ')' && --open < 0) return false;
  }
  return open === 0;
}

function dotsAlone(text: string): boolean {
  return !text.includes('.') || !/[ \-()]/.test(text);
}

// ---- credit cards ------------------------------------------------------------------------------

/**
 * 13 to 19 digits, together or separated by single spaces or dashes, not part of a longer number.
 * Whether it is a card is decided by {@link cardPart}: network prefix and length, and Luhn.
 */
const CREDIT_CARD = '(?<![0-9]|[0-9][ \\-])[0-9](?:[ \\-]?[0-9]){12,18}(?![0-9])';

/** Card networks by number prefix (IIN ranges) and the lengths they issue. */
const CARD_NETWORKS: readonly { prefix: RegExp; lengths: readonly number[] }[] = [
  { prefix: /^4/, lengths: [13, 16, 19] }, // Visa
  { prefix: /^(?:5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/, lengths: [16] }, // Mastercard
  { prefix: /^3[47]/, lengths: [15] }, // American Express
  { prefix: /^(?:6011|64[4-9]|65)/, lengths: [16, 17, 18, 19] }, // Discover
  { prefix: /^(?:30[0-5]|3[689])/, lengths: [14, 15, 16, 17, 18, 19] }, // Diners Club
  { prefix: /^35(?:2[89]|[3-8])/, lengths: [16, 17, 18, 19] }, // JCB
  { prefix: /^62/, lengths: [16, 17, 18, 19] }, // UnionPay
  { prefix: /^(?:5018|5020|5038|5893|6304|6759|676[1-3])/, lengths: [13, 14, 15, 16, 17, 18, 19] }, // Maestro
];

/** Whether digits are a card number: a network's prefix and length, a valid Luhn check digit, not one digit repeated. */
export function isCardNumber(digits: string): boolean {
  if (/^(\d)\1*$/.test(digits)) return false;
  if (!CARD_NETWORKS.some((n) => n.prefix.test(digits) && n.lengths.includes(digits.length))) return false;
  return luhnValid(digits);
}

/**
 * The card number a match holds: all of it, or, when its groups run on into another number
 * (`4111 1111 1111 1111 12/25`), its longest prefix ending after a group that is one. Separators
 * must be all spaces or all dashes.
 */
function cardPart(match: string): readonly [number, number] | null {
  const separators = new Set(match.replace(/[0-9]/g, ''));
  if (separators.size > 1) return null;
  const separator = [...separators][0] ?? '';
  for (let end = match.length; end > 0; end = separator === '' ? -1 : match.lastIndexOf(separator, end - 1)) {
    if (isCardNumber(match.slice(0, end).replaceAll(separator || ' ', ''))) return [0, end];
  }
  return null;
}

// ---- API keys ----------------------------------------------------------------------------------

const KEY_CHARS = '[A-Za-z0-9_\\-]';
const NOT_AFTER_KEY_CHAR = `(?<!${KEY_CHARS})`;

/**
 * Keys of well-known providers by their prefixes: OpenAI and Anthropic (`sk-`, `sk-proj-`,
 * `sk-ant-`), Stripe secret and restricted keys, AWS access key ids (`AKIA`, `ASIA`), GitHub
 * tokens (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), Slack tokens (`xoxb-`, `xoxp-`,
 * ...), Google API keys (`AIza`). Then a value assigned to a key-like name (`api_key=`,
 * `"apiKey": "`, `X-Api-Key:`, `client_secret=`, `access_token=`...) when it looks random: the
 * name is kept, the value redacted.
 */
const API_KEY_PREFIXED = [
  `sk-${KEY_CHARS}{20,}`,
  '(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}',
  '(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])',
  'gh[pousr]_[A-Za-z0-9]{36,}',
  'github_pat_[A-Za-z0-9_]{22,}',
  'xox[abposr]-[A-Za-z0-9\\-]{10,}',
  `AIza${KEY_CHARS}{35}(?!${KEY_CHARS})`,
];
const KEY_NAMES = ['api[_\\-]?key', 'apikey', 'secret[_\\-]?key', 'client[_\\-]?secret', 'access[_\\-]?token', 'auth[_\\-]?token'].map((n) =>
  n.replace(/[a-z]+/g, anyCase),
);
// The value stops at `=` and `:` (base64 padding aside), so that no value runs on into the next
// assignment: a rejected value is then never scanned again from a later key name.
const API_KEY_ASSIGNED = `(?<![A-Za-z0-9])(?:${KEY_NAMES.join('|')})["']?[ \\t]{0,3}[:=][ \\t]{0,3}["']?[A-Za-z0-9_\\-./+]{16,}={0,2}`;
const API_KEY = `${NOT_AFTER_KEY_CHAR}(?:${API_KEY_PREFIXED.join('|')})|${API_KEY_ASSIGNED}`;

/** Random-looking enough to be a secret: Shannon entropy of its characters, in bits each. */
const MIN_SECRET_BITS_PER_CHAR = 3;

function apiKeyPart(match: string): readonly [number, number] | null {
  const assigned = /^[A-Za-z_\-]+["']?[ \t]*[:=][ \t]*["']?/.exec(match);
  if (assigned === null) return /[0-9]/.test(match) || !/^sk-/.test(match) ? [0, match.length] : null;
  const value = match.slice(assigned[0].length);
  return looksRandom(value) ? [assigned[0].length, match.length] : null;
}

/** A secret rather than a placeholder (`your_api_key_here`): a digit and enough entropy. */
export function looksRandom(value: string): boolean {
  if (!/[0-9]/.test(value)) return false;
  const counts = new Map<string, number>();
  for (const c of value) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / value.length) * Math.log2(n / value.length);
  return bits >= MIN_SECRET_BITS_PER_CHAR;
}

// ---- bearer tokens -----------------------------------------------------------------------------

/**
 * `Bearer <token>` (RFC 6750's b64token, at least 12 characters, with a digit); `Bearer ` is kept,
 * and so is a full stop that ends the sentence. The token cannot hold a space, so a rejected one
 * never runs on into the next `Bearer`.
 */
const BEARER_TOKEN = `(?<![A-Za-z0-9])${anyCase('bearer')}[ \\t]+[A-Za-z0-9\\-._~+/]{12,}=*`;

function bearerPart(match: string): readonly [number, number] | null {
  const start = /^[A-Za-z]+[ \t]+/.exec(match)![0].length;
  let end = match.length;
  while (end > start && match[end - 1] === '.') end--;
  return /[0-9]/.test(match.slice(start, end)) ? [start, end] : null;
}

/**
 * Every built-in detector, in the order they are tried where several match at one place: a
 * bearer token or key before the e-mail or number it may contain, cards before phone numbers.
 */
export const DETECTORS: readonly Detector[] = [
  { name: 'bearer_token', source: BEARER_TOKEN, hint: new RegExp(`${anyCase('bearer')}[ \\t]`), redactedPart: bearerPart },
  {
    name: 'api_key',
    source: API_KEY,
    hint: new RegExp(`sk-|[sr]k_|A(?:KIA|SIA|Iza)|gh[pousr]_|github_pat_|xox|(?:${['key', 'secret', 'token'].map(anyCase).join('|')})["']?[ \\t]{0,3}[:=]`),
    redactedPart: apiKeyPart,
  },
  { name: 'email', source: EMAIL, hint: /@/ },
  // 13 or more digits, at most one separator between two: three digits within five characters.
  { name: 'credit_card', source: CREDIT_CARD, hint: /[0-9][ \-]?[0-9][ \-]?[0-9]/, redactedPart: cardPart },
  // A `+` and a digit, or a US number's three-digit area code.
  { name: 'phone', source: `${PHONE_INTERNATIONAL}|${PHONE_NANP}`, hint: /\+[1-9]|[0-9]{3}/, redactedPart: internationalPhonePart },
];
