import { sql, type Expression, type SqlBool } from 'kysely';
import { tsQuery } from '../../text-search/text-query.js';
import { placeholders, runSql } from '../fast-sql.js';
import type { SqlDialect } from '../sql-dialect.js';

// A JSON string literal that `::jsonb` is sure to accept: no raw control characters and no \u
// escapes (jsonb refuses \u0000 and lone surrogates, and a failed cast would fail the whole query).
// JSON.stringify only writes \u for control characters, so real attribute values pass.
const SAFE_JSON_STRING = '^"([^"\\\\[:cntrl:]]|\\\\["\\\\/bfnrt])*"$';
// A JSON number whose exponent `numeric` can hold.
const JSON_NUMBER = '^\\s*-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][-+]?[0-9]{1,3})?\\s*$';

/** PostgreSQL's native operators: LIKE is case-sensitive, ILIKE exists, `~` is a POSIX regex match. */
export const postgresDialect: SqlDialect = {
  name: 'postgres',
  // An identity column: its sequence numbers traces across replicas.
  newTraceKey: 'DEFAULT',
  like: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} LIKE ${pattern} ESCAPE '\\')`,
  ilike: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} ILIKE ${pattern} ESCAPE '\\')`,
  regexMatch: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} ~ ${pattern})`,
  // CASE evaluates its branches lazily, so the inner ::jsonb cast only sees text the regex vouched for.
  spanAttributeText: (content: Expression<unknown>, key: Expression<unknown>) => sql<string | null>`(SELECT CASE jsonb_typeof(a.v)
      WHEN 'string' THEN CASE WHEN (a.v #>> '{}') ~ ${SAFE_JSON_STRING} THEN ((a.v #>> '{}')::jsonb #>> '{}') ELSE (a.v #>> '{}') END
      WHEN 'null' THEN NULL
      ELSE a.v::text END
    FROM (SELECT ((${content})::jsonb -> 'attributes') -> CAST(${key} AS text) AS v) AS a)`,
  jsonNumber: (jsonText: Expression<unknown>) =>
    sql<number | null>`(CASE WHEN ${jsonText} ~ ${JSON_NUMBER} THEN CAST(${jsonText} AS numeric) END)`,
  jsonTextAt: (jsonText: Expression<unknown>, path: readonly string[]) =>
    sql<string | null>`((${jsonText})::jsonb #>> CAST(${[...path]} AS text[]))`,
  // The 'simple' configuration only lower-cases: words come split and normalized already, and
  // no language's stemming or stop words decide what a search finds.
  traceText: {
    insert: async (trx, traceKey, words) => {
      await runSql(trx, "INSERT INTO trace_text_docs (trace_key, words) VALUES (?, to_tsvector('simple', ?))", [traceKey, words]);
      return null;
    },
    delete: async (trx, traceKeys) => {
      await runSql(trx, `DELETE FROM trace_text_docs WHERE trace_key IN (${placeholders(traceKeys.length)})`, traceKeys);
    },
    matchingTraceKeys: (term, limit) =>
      sql`(SELECT d.trace_key FROM trace_text_docs AS d WHERE d.words @@ to_tsquery('simple', ${tsQuery(term)})${limit === undefined ? sql`` : sql` LIMIT ${sql.lit(limit)}`})`,
    documentMatches: (term) => sql<SqlBool>`(d.words @@ to_tsquery('simple', ${tsQuery(term)}))`,
  },
};
