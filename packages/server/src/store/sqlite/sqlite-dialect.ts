import { sql, type Expression, type SqlBool } from 'kysely';
import { fts5Query } from '../../text-search/text-query.js';
import type { SqlDialect } from '../sql-dialect.js';
import { deleteTextDocuments, insertTextDocument } from './text-documents.js';

/**
 * The SQL function a search calls per row to stay within its time limit (search-functions.js
 * registers it). Its name in a statement is also how the store's driver tells a search apart.
 */
export const TIME_LIMIT_FUNCTION = 'threadline_within_time_limit';

/**
 * Whether a statement has a condition whose cost grows with the size of the value it reads (the
 * LIKE and REGEXP of `like`, `ilike` and `regexMatch`, the JSON parsing of `spanAttributeText`):
 * one row of it may take seconds on a value of tens of MiB, which no check between rows can stop.
 * Every such condition comes from this dialect, in these words.
 *
 * @example
 * scalesWithValueSize("SELECT ... WHERE (kv.value LIKE ? ESCAPE '\\')"); // true
 */
export function scalesWithValueSize(sql: string): boolean {
  return / LIKE | REGEXP |json_each\(/.test(sql);
}

/**
 * SQLite's quirks. LIKE is made case-sensitive per connection (`PRAGMA case_sensitive_like`), so
 * ILIKE is lower() on both sides; REGEXP calls the `regexp` function registered on the connection.
 * JSON functions refuse malformed JSON with an error, so every use is guarded by `json_valid`.
 * SQLite has no statement timeout: searches call {@link TIME_LIMIT_FUNCTION} per row instead.
 */
export const sqliteDialect: SqlDialect = {
  name: 'sqlite',
  // One connection writes, so the next key is one past the largest (its unique index's last entry).
  newTraceKey: '(SELECT COALESCE(MAX(trace_key), 0) + 1 FROM traces)',
  like: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} LIKE ${pattern} ESCAPE '\\')`,
  ilike: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(lower(${value}) LIKE lower(${pattern}) ESCAPE '\\')`,
  regexMatch: (value: Expression<unknown>, pattern: Expression<unknown>) => sql<boolean>`(${value} REGEXP ${pattern})`,
  // json_each binds the key as a value, so keys with dots or quotes need no path escaping. Its
  // `value` column is the SQL value: text for an encoded attribute, 1/0 for JSON true/false.
  spanAttributeText: (content: Expression<unknown>, key: Expression<unknown>) => sql<string | null>`(SELECT CASE a.type
      WHEN 'text' THEN CASE WHEN json_valid(a.value) AND json_type(a.value) = 'text' THEN json_extract(a.value, '$') ELSE a.value END
      WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'null' THEN NULL
      ELSE CAST(a.value AS TEXT) END
    FROM json_each(CASE WHEN json_valid(${content}) THEN ${content} ELSE '{}' END, '$.attributes') AS a
    WHERE a.key = ${key})`,
  jsonNumber: (jsonText: Expression<unknown>) =>
    sql<number | null>`(CASE WHEN json_valid(${jsonText}) AND json_type(${jsonText}) IN ('integer', 'real') THEN CAST(${jsonText} AS REAL) END)`,
  jsonTextAt: (jsonText: Expression<unknown>, path: readonly string[]) =>
    sql<string | null>`(CASE WHEN json_valid(${jsonText}) THEN CAST(json_extract(${jsonText}, ${sqliteJsonPath(path)}) AS TEXT) END)`,
  timeLimitCheck: sql<SqlBool>`(${sql.raw(TIME_LIMIT_FUNCTION)}() = 1)`,
  // A contentless FTS5 index of trace_text_docs' documents by doc_id, whose words are stored
  // nowhere else (text-documents.ts).
  traceText: {
    insert: insertTextDocument,
    delete: deleteTextDocuments,
    matchingTraceKeys: (term, limit) =>
      sql`(SELECT d.trace_key FROM trace_text_docs AS d WHERE d.doc_id IN (SELECT rowid FROM trace_text_index WHERE trace_text_index MATCH ${fts5Query(term)}${limit === undefined ? sql`` : sql` LIMIT ${sql.lit(limit)}`}))`,
    // `+` keeps SQLite from probing the match list per (trace_key, doc_id) key, which re-runs the
    // FTS query for every trace (12.7 s for a common word at 1M traces): the list is built once,
    // behind a Bloom filter, and each trace's documents looked up in it (9 ms).
    documentMatches: (term) => sql<SqlBool>`(+d.doc_id IN (SELECT rowid FROM trace_text_index WHERE trace_text_index MATCH ${fts5Query(term)}))`,
  },
};

/** `['metadata', 'mlflow.trace.session']` -> `$."metadata"."mlflow.trace.session"`. */
function sqliteJsonPath(path: readonly string[]): string {
  return `$${path.map((key) => `."${key.replaceAll('"', '\\"')}"`).join('')}`;
}
