import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import { invalidParameter } from '../errors.js';
import type { Database } from '../store/schema.js';
import type { SqlDialect } from '../store/sql-dialect.js';
import { canonicalFilter } from './filter-ast.js';
import { compileFilter } from './filter-compiler.js';
import { parseFilter } from './filter-parser.js';
import { parseOrderBy, type OrderKey } from './order-by.js';
import { decodePageToken, encodePageToken, searchDigest, type SortValue } from './page-token.js';

/** A trace search as the REST layer received it (reference §2). */
export interface TraceSearchRequest {
  /** Numeric strings. */
  experimentIds: string[];
  filter?: string;
  orderBy?: string[];
  /** Already validated 1..N by the HTTP layer. */
  maxResults: number;
  pageToken?: string;
}

/** One page of matching trace ids, in order; `nextPageToken` whenever the page is full. */
export interface TraceIdPage {
  traceIds: string[];
  nextPageToken?: string;
}

/**
 * Finds the ids of the traces matching a search, one page at a time. Every problem with the
 * request (filter, order_by, page token) is a 400 `ApiError` that names the offending part.
 *
 * Pages are keyset-based: the token holds the previous page's last sort values, so a page costs
 * the same wherever it is. As in MLflow, a next token is returned whenever the page is full, so
 * the last page may be empty.
 *
 * @example
 * const page = await findTraceIds(db, sqliteDialect, { experimentIds: ['1'], filter: "trace.status = 'OK'", maxResults: 100 });
 * const traces = await store.getTraces(page.traceIds);
 */
export async function findTraceIds(db: Kysely<Database>, dialect: SqlDialect, request: TraceSearchRequest): Promise<TraceIdPage> {
  const experimentIds = request.experimentIds.map((id) => {
    if (!/^\d{1,18}$/.test(id)) throw invalidParameter(`Invalid experiment id '${id}': it must be a number.`);
    return Number(id);
  });
  if (experimentIds.length === 0) throw invalidParameter('Invalid search: at least one experiment id is required.');
  const { maxResults } = request;
  if (!Number.isSafeInteger(maxResults) || maxResults < 1) {
    throw invalidParameter(`Invalid value ${maxResults} for parameter 'max_results' supplied. It must be a positive integer.`);
  }
  const tree = request.filter === undefined ? undefined : parseFilter(request.filter);
  const keys = parseOrderBy(request.orderBy);
  const digest = searchDigest(request.experimentIds, canonicalFilter(tree), keys);
  const after = request.pageToken ? decodePageToken(request.pageToken, digest, keys) : undefined;

  let query = db
    .selectFrom('traces as t')
    .select('t.trace_id')
    .select(keys.map((key, i) => key.expression.as(`k${i}`)))
    .where(sql<SqlBool>`t.experiment_id IN (${sql.join(experimentIds)})`);
  if (tree) query = query.where(compileFilter(tree, dialect));
  if (after) query = query.where(afterRow(keys, after));
  for (const key of keys) {
    // Missing values last in either direction; the same on both databases, whose NULL order differs.
    if (key.nullable) query = query.orderBy(sql`CASE WHEN ${key.expression} IS NULL THEN 1 ELSE 0 END`, 'asc');
    query = query.orderBy(key.expression, key.direction === 'ASC' ? 'asc' : 'desc');
  }
  const rows = (await query.limit(maxResults).execute()) as Array<Record<string, unknown>>;

  const traceIds = rows.map((row) => row.trace_id as string);
  const last = rows[rows.length - 1];
  if (!last || rows.length < maxResults) return { traceIds };
  const values = keys.map((key, i) => sortValue(key, last[`k${i}`]));
  return { traceIds, nextPageToken: encodePageToken(digest, values) };
}

/** Drivers return bigint columns as strings (pg) or numbers (SQLite); tokens carry numbers. */
function sortValue(key: OrderKey, value: unknown): SortValue {
  if (value === null || value === undefined) return null;
  return key.valueType === 'number' ? Number(value) : String(value);
}

/**
 * Rows strictly after `last` in the order of `keys`: the usual lexicographic expansion
 * `k1 > v1 OR (k1 = v1 AND k2 > v2) OR ...`, where a missing value sorts after every present one.
 */
function afterRow(keys: readonly OrderKey[], last: readonly SortValue[]): RawBuilder<SqlBool> {
  const alternatives: RawBuilder<SqlBool>[] = [];
  const equalSoFar: RawBuilder<SqlBool>[] = [];
  keys.forEach((key, i) => {
    const value = last[i] ?? null;
    const expression = key.expression;
    const beyond = key.direction === 'ASC' ? sql.raw('>') : sql.raw('<');
    if (value === null) {
      // Nothing is after a missing value but other missing values, which the next keys order.
      equalSoFar.push(sql<SqlBool>`${expression} IS NULL`);
      return;
    }
    const after = key.nullable ? sql<SqlBool>`(${expression} IS NULL OR ${expression} ${beyond} ${value})` : sql<SqlBool>`${expression} ${beyond} ${value}`;
    alternatives.push(equalSoFar.length === 0 ? after : sql<SqlBool>`(${sql.join([...equalSoFar, after], sql` AND `)})`);
    equalSoFar.push(sql<SqlBool>`${expression} = ${value}`);
  });
  const expansion = alternatives.length === 0 ? sql<SqlBool>`(1 = 0)` : sql<SqlBool>`(${sql.join(alternatives, sql` OR `)})`;
  // The first key alone bounds the scan, which lets both databases walk their index from there.
  const first = keys[0]!;
  const firstValue = last[0] ?? null;
  if (first.nullable || firstValue === null) return expansion;
  const notBefore = first.direction === 'ASC' ? sql.raw('>=') : sql.raw('<=');
  return sql<SqlBool>`(${first.expression} ${notBefore} ${firstValue} AND ${expansion})`;
}
