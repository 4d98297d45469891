import { CompiledQuery, PostgresAdapter, type Kysely, type QueryResult, type Transaction } from 'kysely';
import type { Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/**
 * Statements of the ingest path as SQL text, made once per shape and run as they are: Kysely
 * builds and compiles a query on every call, which cost ~480 µs of the server's ~2,100 µs of CPU
 * per trace in bench:ingest (an insert of 5 spans is 45 value nodes, each frozen, visited and
 * compiled). Text is written with `?` placeholders and made PostgreSQL's `$1…` once.
 */
const postgresTexts = new Map<string, string>();
/** The name each statement made here is prepared under on PostgreSQL connections. */
const preparedNames = new Map<string, string>();
/**
 * Statements with more parameters are not prepared: a connection keeps every statement it
 * prepared, and inserts of many rows come in as many shapes as batch sizes (an OTLP batch of 1
 * to 500 spans), each a large plan, on every pooled connection. The hot shapes are small.
 */
const MAX_PREPARED_PARAMETERS = 100;

/**
 * The name PostgreSQL's connections prepare `text` under, when it is one of the hot path's
 * statements made here (postgres-store.ts): parsed and planned once per connection instead of
 * on every call.
 */
export function preparedStatementName(text: string): string | undefined {
  return preparedNames.get(text);
}

/** Runs `text` (with `?` placeholders, none inside literals) with these parameters. */
export function runSql<R = unknown>(db: Db, text: string, parameters: readonly unknown[]): Promise<QueryResult<R>> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  return db.executeQuery<R>(CompiledQuery.raw(postgres ? postgresText(text) : text, [...parameters]));
}

function postgresText(text: string): string {
  let converted = postgresTexts.get(text);
  if (converted === undefined) {
    let n = 0;
    converted = text.replace(/\?/g, () => `$${++n}`);
    postgresTexts.set(text, converted);
    if (n <= MAX_PREPARED_PARAMETERS) preparedNames.set(converted, `threadline_${preparedNames.size + 1}`);
  }
  return converted;
}

/**
 * The placeholders of a list of `count` values, for `IN (…)` or a row of VALUES.
 *
 * @example
 * `DELETE FROM t WHERE id IN (${placeholders(ids.length)})`
 */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

const insertTexts = new Map<string, string>();

/**
 * Inserts rows (each its values in the order of `columns`) in one statement. `conflict` is the
 * statement's ON CONFLICT clause, if any, the same on both databases.
 */
export function insertRows(db: Db, table: string, columns: readonly string[], rows: readonly (readonly unknown[])[], conflict = ''): Promise<QueryResult<unknown>> {
  const shape = `${table}\u0000${columns.join(',')}\u0000${rows.length}\u0000${conflict}`;
  let text = insertTexts.get(shape);
  if (text === undefined) {
    const row = `(${placeholders(columns.length)})`;
    text = `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from({ length: rows.length }, () => row).join(', ')}${conflict ? ` ${conflict}` : ''}`;
    insertTexts.set(shape, text);
  }
  return runSql(db, text, rows.flat());
}
