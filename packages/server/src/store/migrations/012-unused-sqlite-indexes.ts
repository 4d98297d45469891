import type { Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * Two SQLite indexes that no query of the server uses, and that cost a third of what ingest wrote
 * to the WAL (bench/ingest/page-writes.js: 34 and 14 KiB per trace of 151): every filter on a tag
 * or a metadata key is a correlated `EXISTS` probe by (trace_id, key), which the primary keys
 * serve; the filter suggestions read keys by trace id too. SQLite never turns such an `EXISTS`
 * into a scan of (key, value), so the indexes were only ever written. PostgreSQL keeps its own:
 * its planner may run a rare tag or metadata value as a semi-join from the value side.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  if (ctx.dialect !== 'sqlite') return;
  await db.schema.dropIndex('trace_metadata_key_value').execute();
  await db.schema.dropIndex('trace_tags_key').execute();
}
