import { invalidParameter } from '../errors.js';
import { isObject } from '../ingest/mlflow-spans.js';
import { refuseNul } from '../text.js';

/**
 * Reading request fields with MLflow's error messages in mind: each wrong or missing field is a
 * 400 `INVALID_PARAMETER_VALUE` that names the field and what it should be. Nothing is coerced.
 */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (!isObject(body)) throw invalidParameter('The request body must be a JSON object.');
  return body;
}

export function requiredString(obj: Record<string, unknown>, field: string): string {
  const value = obj[field];
  if (value === undefined || value === null || value === '') throw invalidParameter(`Missing value for required parameter '${field}'.`);
  if (typeof value !== 'string') throw invalidParameter(`Invalid value ${JSON.stringify(value)} for parameter '${field}': it must be a string.`);
  return refuseNul(value, `Parameter '${field}'`);
}

export function optionalString(obj: Record<string, unknown>, field: string): string | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParameter(`Invalid value ${JSON.stringify(value)} for parameter '${field}': it must be a string.`);
  return refuseNul(value, `Parameter '${field}'`);
}

/** A boolean field: JSON true or false. */
export function optionalBoolean(obj: Record<string, unknown>, field: string): boolean | undefined {
  const value = obj[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidParameter(`Invalid value ${JSON.stringify(value)} for parameter '${field}': it must be true or false.`);
  return value;
}

/** An integer field; query strings deliver it as a string, JSON bodies as a number or a string (int64). */
export function optionalInteger(obj: Record<string, unknown>, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = obj[field];
  if (raw === undefined || raw === null || raw === '') return undefined;
  const value = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw invalidParameter(`Invalid value ${JSON.stringify(raw)} for parameter '${field}': it must be an integer.`);
  }
  if (value < min) throw invalidParameter(`Invalid value ${value} for parameter '${field}' supplied. It must be at least ${min}.`);
  if (value > max) throw invalidParameter(`Invalid value ${value} for parameter '${field}' supplied. It must be at most ${max}.`);
  return value;
}

/** A repeated string field: a JSON list, or a query parameter given once or repeated. */
export function optionalStringList(obj: Record<string, unknown>, field: string): string[] | undefined {
  const raw = obj[field];
  if (raw === undefined || raw === null) return undefined;
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : null;
  if (list === null || !list.every((v): v is string => typeof v === 'string')) {
    throw invalidParameter(`Invalid value ${JSON.stringify(raw)} for parameter '${field}': it must be a list of strings.`);
  }
  for (const value of list) refuseNul(value, `Parameter '${field}'`);
  return list;
}
