import { sql, type Expression } from 'kysely';
import type { SqlDialect } from '../sql-dialect.js';

/** PostgreSQL's native operators: LIKE is case-sensitive, ILIKE exists, `~` is a POSIX regex match. */
export const postgresDialect: SqlDialect = {
  name: 'postgres',
  like: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} LIKE ${pattern} ESCAPE '\\')`,
  ilike: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} ILIKE ${pattern} ESCAPE '\\')`,
  regexMatch: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} ~ ${pattern})`,
};
