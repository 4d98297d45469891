import { randomBytes } from 'node:crypto';

/** A marker no real string contains: a per-process random nonce. */
const BIGINT_MARK = `__tl_bigint_${randomBytes(6).toString('hex')}_`;
const BIGINT_MARKED = new RegExp(`"${BIGINT_MARK}(-?\\d+)"`, 'g');

/**
 * `JSON.stringify` that writes BigInt values as bare integers, exactly: MLflow clients expect
 * nanosecond timestamps above 2^53 as JSON numbers.
 *
 * @example
 * stringifyJson({ start_time_unix_nano: 1795463486775000001n }) // '{"start_time_unix_nano":1795463486775000001}'
 */
export function stringifyJson(value: unknown): string {
  let sawBigInt = false;
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'bigint') return v;
    sawBigInt = true;
    return `${BIGINT_MARK}${v}`;
  });
  return sawBigInt ? text.replace(BIGINT_MARKED, '$1') : text;
}

/**
 * Deepest nesting of arrays and objects accepted in JSON the server reads. Far beyond any real
 * trace (an OTLP attribute nested 100 levels is ~300 JSON levels), and far below the depth at
 * which recursive code (`JSON.stringify`, the span mappers) would overflow the stack.
 */
export const MAX_JSON_DEPTH = 512;

/**
 * Whether JSON text nests arrays and objects deeper than `maxDepth`, decided in one pass over the
 * text without parsing it (brackets inside strings do not count). Text that is not JSON may give
 * either answer; its parse fails anyway.
 *
 * @example
 * jsonDepthExceeds('[[1]]', 1) // true
 * jsonDepthExceeds('["[[["]', 1) // false
 */
export function jsonDepthExceeds(text: string, maxDepth = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      depth--;
    }
  }
  return false;
}

/**
 * The value a JSON-encoded string stands for, or the value itself when it is not a string or not
 * JSON: how attributes the Python SDK (and MLflow's OTLP path) JSON-encoded are read back. JSON
 * nested deeper than {@link MAX_JSON_DEPTH} stays the string it came as: kept, never expanded.
 *
 * @example
 * jsonValue('{"a":1}') // { a: 1 }
 * jsonValue('hello')   // 'hello'
 */
export function jsonValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (jsonDepthExceeds(value)) return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
