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

/**
 * JSON text as Python's `json.dumps` writes it with its defaults: `", "` and `": "` between items,
 * every character beyond ASCII escaped as `\uXXXX`, floats in Python's notation (`1e-07`). MLflow
 * stores assessment values in this form and its `feedback.` / `expectation.` filters compare and
 * match patterns against that text, so Threadline stores and compares the same text.
 *
 * @example
 * pythonJsonText({ a: [1, 'é'] }) // '{"a": [1, "\\u00e9"]}'
 * pythonJsonText(true)            // 'true'
 */
export function pythonJsonText(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return pythonNumber(value);
  if (typeof value === 'string') return pythonString(value);
  if (Array.isArray(value)) return `[${value.map(pythonJsonText).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${pythonString(k)}: ${pythonJsonText(v)}`)
      .join(', ')}}`;
  }
  return 'null';
}

/**
 * A number as Python's `repr` writes a float: integral values keep a `.0`, as MLflow's labels
 * (`P95.0`) and messages show them.
 *
 * @example
 * pythonFloatRepr(95)    // '95.0'
 * pythonFloatRepr(99.9)  // '99.9'
 */
export function pythonFloatRepr(n: number): string {
  if (Object.is(n, -0)) return '-0.0';
  return Number.isInteger(n) && Math.abs(n) < 1e16 ? `${n}.0` : pythonNumber(n);
}

function pythonNumber(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
  // JSON cannot say whether 5 was 5 or 5.0; an integral value is written as an integer.
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return String(n);
  // Python switches to exponents from 1e16 and below 1e-4, and pads them to two digits.
  const abs = Math.abs(n);
  const text = abs >= 1e16 || abs < 1e-4 ? n.toExponential() : String(n);
  return text.replace(/e([+-])(\d)$/, 'e$10$2');
}

function pythonString(s: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters as Python does; what is
  // left beyond ASCII is escaped per UTF-16 unit, which is Python's surrogate-pair form.
  return JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
