import type { NanoTime, SpanJson } from '@threadline/protocol';
import { apiClientDescription, headersEntries, isMaskable, isRawHeadersKey, isSecretName, isSecretPair, MASK, maskedRawHeaders } from './secret-masking.js';

/**
 * JSON for values the application handed to the SDK (inputs, outputs, attributes). They can be
 * anything: BigInts, cycles, functions, Maps, Errors, getters that throw. None of that may throw into
 * the application, and the trace must show each value as it was when it was handed over, so every
 * object is turned into JSON text once, when it is recorded (`snapshot`). Credentials are masked on
 * the way (`secret-masking.ts`): they never reach the recorded text.
 */

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function replaceUnserializable(seen: WeakSet<object>) {
  return function (this: unknown, key: string, value: unknown): unknown {
    // Array indices are keys too ("0", "1"...): never secret names.
    if (key !== '' && isMaskable(value) && isSecretName(key)) return MASK;
    switch (typeof value) {
      case 'bigint':
        return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value.toString();
      case 'function':
        return '[Function]';
      case 'symbol':
        return value.toString();
      case 'object': {
        if (value === null) return value;
        // A repeated object is written once; a cycle would otherwise throw.
        if (seen.has(value)) return '[Circular]';
        seen.add(value);
        if (value instanceof Error) return { name: value.name, message: value.message };
        // Entries become plain objects, whose keys are then masked like any others.
        if (value instanceof Map) return Object.fromEntries(value);
        if (value instanceof Set) return [...value];
        if (Array.isArray(value)) {
          if (isRawHeadersKey(key)) return maskedRawHeaders(value);
          return value.some(isSecretPair) ? value.map((item: unknown) => (isSecretPair(item) ? [item[0], MASK] : item)) : value;
        }
        return headersEntries(value) ?? apiClientDescription(value) ?? value;
      }
      default:
        return value;
    }
  };
}

/**
 * JSON text for any value; `undefined` when the value has no JSON form (undefined itself).
 * Never throws: a value whose serialization fails is written as `"[Unserializable: <reason>]"`.
 *
 * @example
 * toJsonText({ n: 10n, f() {} }) // '{"n":10,"f":"[Function]"}'
 */
export function toJsonText(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return JSON.stringify(value);
  try {
    return JSON.stringify(value, replaceUnserializable(new WeakSet()));
  } catch (error) {
    return JSON.stringify(`[Unserializable: ${error instanceof Error ? error.message : String(error)}]`);
  }
}

/**
 * JSON text of a value the application handed over, taken at that moment (what the trace will say
 * it was, whatever the application does with the object afterwards).
 */
export class JsonSnapshot {
  constructor(readonly text: string) {}
}

/** A value as recorded: primitives as they are (they cannot change), anything else as its JSON text. */
export type RecordedValue = string | number | boolean | null | JsonSnapshot;

/**
 * Records `value` as it is now: primitives are kept, objects and arrays become their JSON text
 * (`undefined` stays undefined: nothing to record). Never throws; see `toJsonText`.
 *
 * @example
 * const history = [{ role: 'user', content: 'Hi' }];
 * const recorded = snapshot(history);
 * history.push({ role: 'assistant', content: 'Hello' });
 * recordedValue(recorded!); // [{ role: 'user', content: 'Hi' }]
 */
export function snapshot(value: unknown): RecordedValue | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    default:
      return value === null ? null : new JsonSnapshot(jsonTextOf(value));
  }
}

/** The plain JSON value of a recorded value: a fresh copy each time. */
export function recordedValue(recorded: RecordedValue): unknown {
  return recorded instanceof JsonSnapshot ? (JSON.parse(recorded.text) as unknown) : recorded;
}

/** The JSON text of a recorded value (as recorded, for objects). */
export function recordedJsonText(recorded: RecordedValue): string {
  return recorded instanceof JsonSnapshot ? recorded.text : JSON.stringify(recorded);
}

/**
 * JSON text of any value other than `undefined`, as `toJsonText` writes it, fast for plain data:
 * primitives, arrays and plain objects go straight to `JSON.stringify` (no replacer, which is
 * several times slower); anything else (BigInts, Maps, Errors, class instances, cycles, functions)
 * takes the full serializer.
 */
export function jsonTextOf(value: unknown): string {
  try {
    plainBudget = MAX_PLAIN_NODES;
    if (isPlainJson(value, 0)) return JSON.stringify(value);
  } catch {
    // A getter that throws, a revoked proxy...: the full serializer reports it.
  }
  return toJsonText(value) ?? 'null';
}

// Plain data is checked up to this depth and size; past them the full serializer decides (it also
// stops cycles, which a depth limit alone would walk exponentially).
const MAX_PLAIN_DEPTH = 64;
const MAX_PLAIN_NODES = 10_000;
let plainBudget = 0;

/**
 * True when `JSON.stringify(value)` writes exactly what `toJsonText(value)` writes: plain data with
 * nothing to mask (no secret key, no `[name, value]` pair with a secret name, no raw header list).
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'undefined':
      return true;
    case 'object': {
      if (value === null) return true;
      if (depth >= MAX_PLAIN_DEPTH || --plainBudget < 0) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (isSecretPair(value[i]) || !isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        const item = (value as Record<string, unknown>)[key];
        if ((isMaskable(item) && isSecretName(key)) || isRawHeadersKey(key) || !isPlainJson(item, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

const NANO_FIELDS = /"(start_time_unix_nano|end_time_unix_nano|time_unix_nano)"(\s*):(\s*)(-?\d+)/g;

/**
 * `JSON.parse` for span JSON that keeps nanosecond timestamps exact: the three `*_unix_nano` fields
 * become BigInts (other numbers stay numbers). A key inside a JSON string is escaped (`\"`), so the
 * pattern only ever matches real keys.
 */
export function parseSpanJsonText(text: string): unknown {
  const quoted = text.replace(NANO_FIELDS, '"$1"$2:$3"$4"');
  return JSON.parse(quoted, function (key, value: unknown) {
    if (typeof value === 'string' && (key === 'start_time_unix_nano' || key === 'end_time_unix_nano' || key === 'time_unix_nano') && /^-?\d+$/.test(value)) {
      return BigInt(value);
    }
    return value;
  });
}

/**
 * `JSON.stringify` that writes BigInts as bare integers, exactly. Span JSON carries nanosecond
 * timestamps above 2^53, which MLflow clients send as JSON numbers.
 *
 * @example
 * stringifyWithBigInts({ t: 1795463486775000001n }) // '{"t":1795463486775000001}'
 */
export function stringifyWithBigInts(value: unknown): string {
  const held: (bigint | string)[] = [];
  // Each BigInt becomes a placeholder string "\u0000b<index>" that is swapped back for its digits.
  // A raw U+0000 is always written escaped, so only the application's own strings starting with
  // U+0000 could look alike: they are held aside the same way and written back unchanged.
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return `\u0000b${held.push(v) - 1}`;
    if (typeof v === 'string' && v.charCodeAt(0) === 0) return `\u0000s${held.push(v) - 1}`;
    return v;
  });
  if (held.length === 0) return text;
  return text.replace(/"\\u0000[bs](\d+)"/g, (_m, index: string) => {
    const original = held[Number(index)];
    return typeof original === 'bigint' ? original.toString() : JSON.stringify(original);
  });
}

/**
 * `{"spans":[...]}` text of span JSON, exactly as `stringifyWithBigInts` would write it but
 * faster: the nanosecond fields are written as digits in place and everything else goes through
 * plain `JSON.stringify` (attribute values are already plain JSON).
 */
export function spansJsonText(spans: readonly SpanJson[]): string {
  let text = '{"spans":[';
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i]!;
    if (i > 0) text += ',';
    text += `{"trace_id":${JSON.stringify(s.trace_id)},"span_id":${JSON.stringify(s.span_id)},"parent_span_id":${JSON.stringify(s.parent_span_id ?? null)},"name":${JSON.stringify(s.name)}`;
    text += `,"start_time_unix_nano":${nanoText(s.start_time_unix_nano)},"end_time_unix_nano":${s.end_time_unix_nano == null ? 'null' : nanoText(s.end_time_unix_nano)}`;
    text += `,"status":${JSON.stringify(s.status)},"attributes":${JSON.stringify(s.attributes ?? {})},"events":[`;
    const events = s.events ?? [];
    for (let j = 0; j < events.length; j++) {
      const e = events[j]!;
      if (j > 0) text += ',';
      text += `{"name":${JSON.stringify(e.name)},"time_unix_nano":${nanoText(e.time_unix_nano)},"attributes":${JSON.stringify(e.attributes ?? {})}}`;
    }
    text += ']}';
  }
  return `${text}]}`;
}

function nanoText(value: NanoTime): string {
  return typeof value === 'string' && !/^-?\d+$/.test(value) ? JSON.stringify(value) : String(value);
}
