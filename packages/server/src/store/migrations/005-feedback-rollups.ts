import { sql, type Kysely } from 'kysely';
import { backfillFeedbackRollups } from '../feedback-rollups.js';
import type { Database } from '../schema.js';
import type { MigrationContext } from './migrations.js';

/**
 * Assessments of a whole session, and the feedback rollups (feedback-rollups.ts).
 *
 * A session's own assessments live in `assessments` itself, with `trace_id` null and the session
 * named by `experiment_id` and `session_id` (both null on a trace's assessments): one table keeps
 * one id space (an id names one assessment, whatever it is on), one row format and one override
 * rule for both, and the filter language finds both with the same predicate. The price is
 * `trace_id` becoming nullable, which SQLite can only do by copying the table once, here.
 *
 * `feedback_rollups` holds, per (experiment, scope, key, feedback name), the counts a list of
 * sessions or users, or a chart of hours, reads without aggregating assessments. Feedback names
 * are open-ended (chosen by each app or judge), so they are rows, not columns of `sessions` and
 * `users`; the primary key serves both the upserts and the per-row lookups of filters and orders.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  if (ctx.dialect === 'postgres') {
    await sql`ALTER TABLE assessments ALTER COLUMN trace_id DROP NOT NULL`.execute(db);
    await db.schema.alterTable('assessments').addColumn('experiment_id', 'bigint').execute();
    await db.schema.alterTable('assessments').addColumn('session_id', 'text').execute();
  } else {
    // SQLite cannot drop NOT NULL: the table is copied into its new shape.
    await db.schema
      .createTable('assessments_new')
      .addColumn('assessment_id', 'text', (c) => c.primaryKey())
      .addColumn('trace_id', 'text')
      .addColumn('span_id', 'text')
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('value', 'text')
      .addColumn('content', 'text', (c) => c.notNull())
      .addColumn('valid', 'integer', (c) => c.notNull().defaultTo(1))
      .addColumn('create_time', 'bigint', (c) => c.notNull())
      .addColumn('last_update_time', 'bigint', (c) => c.notNull())
      .addColumn('experiment_id', 'bigint')
      .addColumn('session_id', 'text')
      .execute();
    await sql`INSERT INTO assessments_new (assessment_id, trace_id, span_id, name, kind, value, content, valid, create_time, last_update_time)
      SELECT assessment_id, trace_id, span_id, name, kind, value, content, valid, create_time, last_update_time FROM assessments`.execute(db);
    await db.schema.dropTable('assessments').execute();
    await db.schema.alterTable('assessments_new').renameTo('assessments').execute();
    await db.schema.createIndex('assessments_trace').on('assessments').columns(['trace_id', 'name']).execute();
  }
  await db.schema.createIndex('assessments_session').on('assessments').columns(['experiment_id', 'session_id', 'name']).execute();

  await db.schema
    .createTable('feedback_rollups')
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('count', 'bigint', (c) => c.notNull())
    .addColumn('true_count', 'bigint', (c) => c.notNull())
    .addColumn('false_count', 'bigint', (c) => c.notNull())
    .addColumn('numeric_count', 'bigint', (c) => c.notNull())
    .addColumn('numeric_sum', 'double precision', (c) => c.notNull())
    .addPrimaryKeyConstraint('feedback_rollups_pk', ['experiment_id', 'scope', 'key', 'name'])
    .execute();
  await backfillFeedbackRollups(db as Kysely<Database>);
}
