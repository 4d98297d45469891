import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';
import { rekeyPostgresTable } from './rekey-by-trace.js';

/**
 * The tables this migration keys by (trace_key, span_id): their other columns, as SQLite declares
 * them (migrations 001, 006 and 014), in the order they are copied.
 */
export const KEYED_TABLES = {
  spans: `span_id TEXT NOT NULL, parent_span_id TEXT, name TEXT NOT NULL, type TEXT, status TEXT NOT NULL, start_ns BIGINT NOT NULL,
    end_ns BIGINT, content TEXT NOT NULL, text_doc INTEGER`,
  llm_calls: `span_id TEXT NOT NULL, experiment_id BIGINT NOT NULL, hour_start BIGINT NOT NULL, model TEXT NOT NULL, provider TEXT,
    input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cache_read_tokens BIGINT NOT NULL, cache_write_tokens BIGINT NOT NULL,
    reasoning_tokens BIGINT NOT NULL, explicit_cost_nanos BIGINT, cost_nanos BIGINT, input_cost_nanos BIGINT, output_cost_nanos BIGINT,
    cost_source TEXT, counted INTEGER NOT NULL`,
} as const;

/** The names of a table's columns in `KEYED_TABLES`. */
export const columnNames = (table: keyof typeof KEYED_TABLES): string[] => KEYED_TABLES[table].split(',').map((c) => c.trim().split(' ')[0]!);

/**
 * A trace's spans and LLM calls are keyed by its `trace_key` (migration 015) instead of its id,
 * as its metadata and tags already are: (trace_key, span_id).
 *
 * Keyed by the random trace id, each trace's spans and calls went to a leaf anywhere in their
 * primary-key indexes; once the file outgrows memory, each of those leaves is read from disk
 * first. After migration 015, at 1M traces, the span insert still took 213 µs per trace and the
 * call insert 57 (BENCHMARKS.md, "Ingest at scale"; 66 and 15 in a new file before 015). Keyed
 * in arrival order, a commit's new rows append at the right edge of each index.
 *
 * SQLite copies both tables in key order (it cannot change a primary key; for a large file this
 * is most of what the upgrade takes, as the spans are most of the file); PostgreSQL changes them
 * in place. Rows of traces that no longer exist are dropped on the way.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  if (ctx.dialect === 'postgres') {
    for (const table of Object.keys(KEYED_TABLES)) await rekeyPostgresTable(db, table, ['span_id']);
    return;
  }
  for (const table of Object.keys(KEYED_TABLES) as (keyof typeof KEYED_TABLES)[]) await copyKeyed(db, table);
}

/**
 * SQLite: the table copied into one keyed (trace_key, span_id). The traces are walked in key
 * order (CROSS JOIN keeps SQLite from choosing the other order) and each one's rows read by its
 * old primary key, in span id order: the rows arrive in the new key's order, appended without a
 * sort of the whole table.
 */
async function copyKeyed(db: Kysely<unknown>, table: keyof typeof KEYED_TABLES): Promise<void> {
  const keyed = sql.table(`${table}_keyed`);
  const columns = columnNames(table);
  await sql`CREATE TABLE ${keyed} (trace_key INTEGER NOT NULL, ${sql.raw(KEYED_TABLES[table])}, PRIMARY KEY (trace_key, span_id))`.execute(db);
  await sql`INSERT INTO ${keyed} (trace_key, ${sql.join(columns.map((c) => sql.ref(c)))})
    SELECT t.trace_key, ${sql.join(columns.map((c) => sql.ref(`r.${c}`)))}
    FROM traces AS t INDEXED BY traces_trace_key CROSS JOIN ${sql.table(table)} AS r ON r.trace_id = t.trace_id
    ORDER BY t.trace_key, r.span_id`.execute(db);
  await sql`DROP TABLE ${sql.table(table)}`.execute(db);
  await sql`ALTER TABLE ${keyed} RENAME TO ${sql.table(table)}`.execute(db);
}
