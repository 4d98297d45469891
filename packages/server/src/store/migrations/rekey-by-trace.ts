import { sql, type Kysely } from 'kysely';

/**
 * PostgreSQL: a table of a trace's rows keyed by `trace_id` becomes keyed by the trace's
 * `trace_key` (migration 015), its primary key `${table}_pk` now (trace_key, ...rest). The table
 * is changed in place: no table is dropped, since replicas migrating other schemas at once list
 * every schema's tables, and a table dropped under that listing fails it. Rows of traces that no
 * longer exist are dropped on the way.
 */
export async function rekeyPostgresTable(db: Kysely<unknown>, table: string, rest: readonly string[]): Promise<void> {
  const t = sql.table(table);
  const primaryKey = sql.ref(`${table}_pk`);
  await sql`ALTER TABLE ${t} ADD COLUMN trace_key BIGINT`.execute(db);
  await sql`UPDATE ${t} AS r SET trace_key = t.trace_key FROM traces AS t WHERE t.trace_id = r.trace_id`.execute(db);
  await sql`DELETE FROM ${t} WHERE trace_key IS NULL`.execute(db);
  await sql`ALTER TABLE ${t} DROP CONSTRAINT ${primaryKey}`.execute(db);
  await sql`ALTER TABLE ${t} DROP COLUMN trace_id`.execute(db);
  await sql`ALTER TABLE ${t} ALTER COLUMN trace_key SET NOT NULL`.execute(db);
  await sql`ALTER TABLE ${t} ADD CONSTRAINT ${primaryKey} PRIMARY KEY (${sql.join(['trace_key', ...rest].map((c) => sql.ref(c)))})`.execute(db);
}
