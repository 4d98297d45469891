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
 * The value a JSON-encoded string stands for, or the value itself when it is not a string or not
 * JSON: how attributes the Python SDK (and MLflow's OTLP path) JSON-encoded are read back.
 *
 * @example
 * jsonValue('{"a":1}') // { a: 1 }
 * jsonValue('hello')   // 'hello'
 */
export function jsonValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
