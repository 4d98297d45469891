import { RE2JS } from 're2js';
import { DETECTORS, type Detector } from './detectors.js';
import { compilePattern, type RedactionRules } from './rules.js';

/** What replaces a match of the rule named `name`. */
export function redactionTag(name: string): string {
  return `[REDACTED:${name}]`;
}

/**
 * What a whole string becomes when redacting it would make it more than {@link MAX_GROWTH} times
 * longer (a pattern matching single characters): it is redacted whole, so that no rule can make
 * a request's strings balloon in memory.
 */
export const REDACTED_WHOLE = '[REDACTED]';
const MAX_GROWTH = 3;
const GROWTH_SLACK_CHARS = 4096;

/** Some of the built-in detectors of a rule set, joined into one regular expression. */
interface BuiltInScan {
  /** Detector i is capture group i + 1. */
  combined: RegExp;
  detectors: Detector[];
  /** Each detector alone, sticky: tried where another one's match was not of its kind. */
  sticky: RegExp[];
  tags: string[];
}

/** The custom patterns of a rule set, joined into one RE2 program: `(p1)|(p2)|...`. */
interface CustomScan {
  combined: RE2JS;
  /** The capture group of each pattern in `combined`. */
  groups: number[];
  tags: string[];
}

/**
 * Redacts text by a set of rules: one pass of the built-in detectors (V8), one pass of the
 * custom patterns (RE2), each joining all its rules into one scan. Built once per rule set and
 * reused for every string of every request.
 *
 * @example
 * const redactor = new TextRedactor({ detectors: ['email'], patterns: [{ name: 'employee_id', pattern: 'EMP-\\d{6}' }] });
 * redactor.text('mail bob@example.com about EMP-123456') // 'mail [REDACTED:email] about [REDACTED:employee_id]'
 */
export class TextRedactor {
  private readonly detectors: readonly Detector[];
  /** Scans by the set of detectors whose hint a string holds (a bit per detector), made on first use. */
  private readonly scans = new Map<number, BuiltInScan>();
  private readonly custom: CustomScan | null;

  constructor(rules: RedactionRules) {
    this.detectors = DETECTORS.filter((d) => rules.detectors.includes(d.name));
    this.custom = rules.patterns.length === 0 ? null : customScan(rules);
  }

  /** The text with every match replaced; the same string when nothing matched. */
  text(text: string): string {
    if (text.length === 0) return text;
    let out = this.detectors.length > 0 ? this.scanBuiltIn(text) : text;
    if (this.custom) out = this.scanCustom(out);
    return out.length > text.length * MAX_GROWTH + GROWTH_SLACK_CHARS ? REDACTED_WHOLE : out;
  }

  /** One scan by the detectors that may match `text`; none when no detector's hint is there. */
  private scanFor(text: string): BuiltInScan | null {
    let mask = 0;
    for (let i = 0; i < this.detectors.length; i++) if (this.detectors[i]!.hint.test(text)) mask |= 1 << i;
    if (mask === 0) return null;
    let scan = this.scans.get(mask);
    if (scan === undefined) {
      const detectors = this.detectors.filter((_, i) => mask & (1 << i));
      scan = {
        combined: new RegExp(detectors.map((d) => `(${d.source})`).join('|'), 'g'),
        detectors,
        sticky: detectors.map((d) => new RegExp(d.source, 'y')),
        tags: detectors.map((d) => redactionTag(d.name)),
      };
      this.scans.set(mask, scan);
    }
    return scan;
  }

  private scanBuiltIn(text: string): string {
    const scan = this.scanFor(text);
    if (scan === null) return text;
    const { combined, detectors, sticky, tags } = scan;
    let out = '';
    let copied = 0;
    combined.lastIndex = 0;
    for (let m = combined.exec(text); m !== null; m = combined.exec(text)) {
      const at = m.index;
      let first = 1;
      while (m[first] === undefined) first++;
      // The first detector whose match at this place is of its kind; a later one may match
      // where an earlier one's turned out not to be (a dashed phone number failing Luhn).
      let found: { i: number; match: string; part: readonly [number, number] } | null = null;
      for (let i = first - 1; i < detectors.length && found === null; i++) {
        let match: string | undefined = m[i + 1];
        if (match === undefined) {
          sticky[i]!.lastIndex = at;
          match = sticky[i]!.exec(text)?.[0];
        }
        if (match === undefined) continue;
        const part = detectors[i]!.redactedPart ? detectors[i]!.redactedPart!(match) : ([0, match.length] as const);
        if (part !== null) found = { i, match, part };
      }
      if (found === null) {
        combined.lastIndex = at + 1;
        continue;
      }
      const [start, end] = found.part;
      out += text.slice(copied, at + start) + tags[found.i]!;
      copied = at + end;
      combined.lastIndex = copied;
      if (out.length > text.length * MAX_GROWTH + GROWTH_SLACK_CHARS) return REDACTED_WHOLE;
    }
    return copied === 0 ? text : out + text.slice(copied);
  }

  private scanCustom(text: string): string {
    const { combined, groups, tags } = this.custom!;
    // RE2's DFA answers whether anything matches faster than finding where.
    if (!combined.test(text)) return text;
    const matcher = combined.matcher(text);
    let out = '';
    let copied = 0;
    while (matcher.find()) {
      const start = matcher.start();
      const end = matcher.end();
      if (end === start) continue;
      const which = groups.findIndex((g) => matcher.start(g) >= 0);
      out += text.slice(copied, start) + tags[which]!;
      copied = end;
      if (out.length > text.length * MAX_GROWTH + GROWTH_SLACK_CHARS) return REDACTED_WHOLE;
    }
    return copied === 0 ? text : out + text.slice(copied);
  }

  /**
   * A decoded JSON value with every string in it redacted, object keys included (a key that
   * becomes one already there gets `#2`, `#3`... so that no value is lost). Unchanged parts are
   * the same objects; nothing is copied when nothing matched.
   */
  value(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) {
      let copy: unknown[] | undefined;
      for (let i = 0; i < value.length; i++) {
        const redacted = this.value(value[i]);
        if (redacted !== value[i]) (copy ??= value.slice())[i] = redacted;
      }
      return copy ?? value;
    }
    if (!isPlainObject(value)) return value;
    const keys = Object.keys(value);
    // Built on first change, without a prototype, so that a key such as `__proto__` stays a key.
    let copy: Record<string, unknown> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const item = value[key];
      const redactedKey = this.text(key);
      const redacted = this.value(item);
      if (copy === undefined) {
        if (redactedKey === key && redacted === item) continue;
        copy = Object.create(null) as Record<string, unknown>;
        for (let j = 0; j < i; j++) copy[keys[j]!] = value[keys[j]!];
      }
      let name = redactedKey;
      for (let n = 2; Object.hasOwn(copy, name); n++) name = `${redactedKey}#${n}`;
      copy[name] = redacted;
    }
    return copy ?? value;
  }
}

function customScan(rules: RedactionRules): CustomScan {
  const groups: number[] = [];
  let group = 1;
  for (const { name, pattern } of rules.patterns) {
    groups.push(group);
    group += compilePattern(pattern, `pattern '${name}'`).groupCount() + 1;
  }
  return {
    combined: RE2JS.compile(rules.patterns.map((p) => `(${p.pattern})`).join('|')),
    groups,
    tags: rules.patterns.map((p) => redactionTag(p.name)),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
