import type { Expression, RawBuilder, SqlBool } from 'kysely';

/**
 * What differs between the databases above Kysely's own dialects: one small method per quirk,
 * so that nothing else in the server asks which database it runs on.
 */
export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** Case-sensitive LIKE: `%` and `_` are wildcards, a backslash escapes them on both databases. */
  like(value: Expression<unknown>, pattern: Expression<unknown>): RawBuilder<SqlBool>;
  /** Case-insensitive LIKE. */
  ilike(value: Expression<unknown>, pattern: Expression<unknown>): RawBuilder<SqlBool>;
  /** Unanchored, case-sensitive regular-expression match. Patterns are validated before they get here. */
  regexMatch(value: Expression<unknown>, pattern: Expression<unknown>): RawBuilder<SqlBool>;
}
