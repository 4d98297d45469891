import type { Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * SQLite: `trace_text_pending`, the documents of the text index written in a transaction not yet
 * committed (sqlite-dialect.ts `traceText`, `indexPendingText`). Empty between transactions.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  if (ctx.dialect !== 'sqlite') return;
  await db.schema.createTable('trace_text_pending').addColumn('doc_id', 'integer', (c) => c.primaryKey()).execute();
}
