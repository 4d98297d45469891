import { sql, type Expression } from 'kysely';
import type { SqlDialect } from '../sql-dialect.js';

/**
 * SQLite's quirks. LIKE is made case-sensitive per connection (`PRAGMA case_sensitive_like`), so
 * ILIKE is lower() on both sides; REGEXP calls the `regexp` function registered on the connection.
 */
export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  like: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} LIKE ${pattern} ESCAPE '\\')`,
  ilike: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(lower(${value}) LIKE lower(${pattern}) ESCAPE '\\')`,
  regexMatch: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} REGEXP ${pattern})`,
};
