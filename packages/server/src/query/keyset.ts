import { sql, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type { OrderKey } from './order-by.js';
import { encodePageToken, type SortValue } from './page-token.js';

/**
 * Keyset pagination over any ordered query (traces, sessions, users): selects the sort values as
 * `k0, k1, ...`, orders by them, starts strictly after the previous page's last row, and turns the
 * last row of a full page into the next token.
 *
 * @example
 * const rows = await keysetQuery(db.selectFrom('sessions as r').select('r.session_id'), keys, after).limit(50).execute();
 * const next = nextPageToken(rows, keys, 50, digest);
 */
export function keysetQuery<DB, TB extends keyof DB, O>(
  query: SelectQueryBuilder<DB, TB, O>,
  keys: readonly OrderKey[],
  after: readonly SortValue[] | undefined,
): SelectQueryBuilder<DB, TB, O> {
  let q = query.select(keys.map((key, i) => key.expression.as(`k${i}`))) as unknown as SelectQueryBuilder<DB, TB, O>;
  if (after) q = q.where(afterRow(keys, after));
  for (const key of keys) {
    // Missing values last in either direction; the same on both databases, whose NULL order differs.
    if (key.nullable) q = q.orderBy(sql`CASE WHEN ${key.expression} IS NULL THEN 1 ELSE 0 END`, 'asc');
    q = q.orderBy(key.expression, key.direction === 'ASC' ? 'asc' : 'desc');
  }
  return q;
}

/**
 * The token for the page after `rows` (as selected by {@link keysetQuery}), or undefined when the
 * page is not full. As in MLflow, a full last page still gets a token, and the page after is empty.
 */
export function nextPageToken(rows: readonly unknown[], keys: readonly OrderKey[], maxResults: number, digest: string): string | undefined {
  const last = rows[rows.length - 1] as Record<string, unknown> | undefined;
  if (!last || rows.length < maxResults) return undefined;
  return encodePageToken(
    digest,
    keys.map((key, i) => sortValue(key, last[`k${i}`])),
  );
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
export function afterRow(keys: readonly OrderKey[], last: readonly SortValue[]): RawBuilder<SqlBool> {
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
