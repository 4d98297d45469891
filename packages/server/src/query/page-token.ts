import { createHash } from 'node:crypto';
import { invalidParameter } from '../errors.js';
import type { OrderKey } from './order-by.js';

/** A sort value as it travels in a token. */
export type SortValue = string | number | null;

/**
 * What a page token carries: the search it belongs to (a digest) and the sort key values of the
 * last row of the page before, so the next page starts right after it (keyset pagination: page N
 * costs what page 1 costs, and rows inserted meanwhile neither shift nor repeat pages).
 */
interface PageTokenBody {
  /** Format version. */
  v: 1;
  /** Digest of the search the token belongs to. */
  s: string;
  /** Sort key values of the last row, one per order key. */
  k: SortValue[];
}

const INVALID = 'Invalid page token';

/**
 * A short digest of everything a page token is bound to: the filter's meaning, the resolved order
 * and the experiments. A token presented with a different search is refused (decision 6).
 *
 * @example
 * searchDigest(['1'], canonicalFilter(tree), parseOrderBy([]));
 */
export function searchDigest(experimentIds: readonly string[], canonicalFilter: string, keys: readonly OrderKey[]): string {
  const experiments = [...new Set(experimentIds.map((id) => String(Number(id))))].sort();
  const order = keys.map((k) => `${k.id} ${k.direction}`);
  return createHash('sha256').update(JSON.stringify([experiments, canonicalFilter, order])).digest('base64url').slice(0, 22);
}

/**
 * Encodes the token for the page after the row whose sort values are `values`.
 *
 * @example
 * const token = encodePageToken(digest, [1700000000000, 'tr-0abc']);
 */
export function encodePageToken(digest: string, values: readonly SortValue[]): string {
  const body: PageTokenBody = { v: 1, s: digest, k: [...values] };
  return Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
}

/**
 * Decodes a token and checks it belongs to this search and fits its keys; throws a 400
 * "Invalid page token" otherwise. Values are checked for type as they are bound into SQL.
 *
 * @example
 * const after = decodePageToken(request.pageToken, digest, keys); // the previous page's last sort values
 */
export function decodePageToken(token: string, digest: string, keys: readonly OrderKey[]): SortValue[] {
  let body: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+={0,2}$/.test(token)) throw new Error('not base64url');
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidParameter(`${INVALID}: it could not be decoded.`);
  }
  if (!isTokenBody(body)) throw invalidParameter(`${INVALID}: it was not issued by this server.`);
  if (body.s !== digest) {
    throw invalidParameter(`${INVALID}: it belongs to a search with another filter, order_by or experiment list; start again without a page token.`);
  }
  if (body.k.length !== keys.length || !keys.every((key, i) => fits(key, body.k[i]))) {
    throw invalidParameter(`${INVALID}: its position does not fit the order.`);
  }
  return body.k;
}

function isTokenBody(value: unknown): value is PageTokenBody {
  if (typeof value !== 'object' || value === null) return false;
  const body = value as Record<string, unknown>;
  return body.v === 1 && typeof body.s === 'string' && Array.isArray(body.k);
}

function fits(key: OrderKey, value: unknown): boolean {
  if (value === null) return key.nullable;
  if (key.valueType === 'string') return typeof value === 'string';
  return typeof value === 'number' && (key.fractional ? Number.isFinite(value) : Number.isSafeInteger(value));
}
