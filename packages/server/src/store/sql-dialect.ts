import type { Expression, Kysely, RawBuilder, SqlBool, Transaction } from 'kysely';
import type { TextTerm } from '../text-search/text-query.js';
import type { Database } from './schema.js';

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
  /**
   * The attribute `key` of a span's JSON `content`, as text. Attribute values are stored
   * JSON-encoded (`{"attributes":{"model":"\"gpt-4\""}}`): an encoded string gives its decoded
   * text (`gpt-4`), any other value its JSON text (`5`, `true`). NULL when the span has no such
   * attribute.
   */
  spanAttributeText(content: Expression<unknown>, key: Expression<unknown>): RawBuilder<string | null>;
  /** The number a JSON text holds (`5`, `-2.5e3`), or NULL when it holds anything else or is not JSON. */
  jsonNumber(jsonText: Expression<unknown>): RawBuilder<number | null>;
  /** The string or scalar found under a path of object keys in a JSON text, as text, or NULL. */
  jsonTextAt(jsonText: Expression<unknown>, path: readonly string[]): RawBuilder<string | null>;
  /**
   * A condition that is true while the statement running it is within its time limit and stops
   * the statement once it is not, tested for each row where it stands; undefined where the
   * database bounds statements itself (PostgreSQL's statement_timeout). Searches put it first
   * among a row's conditions (SQLite tests them in order and stops at the first false one), in
   * the outer query and in subqueries that may scan many rows for one outer row.
   */
  readonly timeLimitCheck?: RawBuilder<SqlBool>;
  /** The text index of trace content (migration 010, store/trace-text.ts). */
  readonly traceText: TraceTextSql;
  /** SQL for the `trace_key` of a trace being inserted: the next in arrival order (migration 015). */
  readonly newTraceKey: string;
}

/**
 * The statements of the text index: one document per upload of a trace's spans, its words already
 * split and normalized (text-search/words.ts), in each database's own full-text index.
 */
export interface TraceTextSql {
  /**
   * Adds a document of `words` (read from the spans in span id order) to the trace. Answers the
   * id its spans keep in `spans.text_doc` where the database reads a document's words from its
   * spans again to delete it (SQLite), else null.
   */
  insert(trx: Kysely<Database> | Transaction<Database>, traceKey: number, words: string): Promise<number | null>;
  /** Removes every document of these traces (by `trace_key`, at most a few hundred), before their spans are deleted. */
  delete(trx: Kysely<Database> | Transaction<Database>, traceKeys: readonly number[]): Promise<void>;
  /** A subquery answering the `trace_key` of the traces that have a document matching `term` (of at most `limit` documents). */
  matchingTraceKeys(term: TextTerm, limit?: number): RawBuilder<unknown>;
  /** A condition on a document aliased `d`: it matches `term`. */
  documentMatches(term: TextTerm): RawBuilder<SqlBool>;
}
