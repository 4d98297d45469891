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

/** A plain JSON value (a deep copy) of any value; see `toJsonText`. */
export function toJsonValue(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  const text = toJsonText(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
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
