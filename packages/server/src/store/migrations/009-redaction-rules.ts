import type { Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * Redaction rules of an experiment (redaction/, store/redaction-rules.ts), set through
 * `PUT /api/threadline/experiments/{id}/redaction`: applied at ingest on top of the server's own
 * (`--redact`). One row per experiment that has rules; none for the others. `detectors` is a
 * comma-separated list of built-in detector names, `patterns` a JSON list of `{name, pattern}`.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('experiment_redaction_rules')
    .addColumn('experiment_id', 'bigint', (c) => c.primaryKey())
    .addColumn('detectors', 'text', (c) => c.notNull())
    .addColumn('patterns', 'text', (c) => c.notNull())
    .addColumn('updated_time', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();
}
