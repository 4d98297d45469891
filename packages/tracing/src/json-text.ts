import type { NanoTime, SpanJson } from '@threadline/protocol';

/**
 * JSON for values the application handed to the SDK (inputs, outputs, attributes). They can be
 * anything: BigInts, cycles, functions, Maps, Errors, getters that throw. None of that may throw out
 * of the exporter, so every value goes through `toJsonText` once, at export time.
 */

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function replaceUnserializable(seen: WeakSet<object>) {
  return function (this: unknown, _key: string, value: unknown): unknown {
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
        if (value instanceof Map) return Object.fromEntries(value);
        if (value instanceof Set) return [...value];
        return value;
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
 * A plain JSON value (a deep copy) of any value; see `toJsonText`. Plain data (primitives, arrays,
 * plain objects, a few levels deep) is copied directly; anything else goes through the JSON text.
 */
export function toJsonValue(value: unknown): unknown {
  const copied = copyPlain(value, 0);
  if (copied !== NOT_PLAIN) return copied;
  const text = toJsonText(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}

const NOT_PLAIN = Symbol('not-plain');
const MAX_PLAIN_DEPTH = 8;

/** A copy of plain JSON data, or NOT_PLAIN when the value needs the full serializer. */
function copyPlain(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'undefined':
      return depth === 0 ? undefined : NOT_PLAIN;
    case 'object': {
      if (value === null) return null;
      if (depth >= MAX_PLAIN_DEPTH) return NOT_PLAIN;
      if (Array.isArray(value)) {
        const copy: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          const item = copyPlain(value[i], depth + 1);
          if (item === NOT_PLAIN) return NOT_PLAIN;
          copy[i] = item;
        }
        return copy;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
      const copy: Record<string, unknown> = {};
      for (const key in value) {
        const item = copyPlain((value as Record<string, unknown>)[key], depth + 1);
        if (item === NOT_PLAIN) return NOT_PLAIN;
        copy[key] = item;
      }
      return copy;
    }
    default:
      return NOT_PLAIN;
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
