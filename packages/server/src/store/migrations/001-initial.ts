import { sql, type Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/** The first schema: DESIGN.md §4. */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const postgres = ctx.dialect === 'postgres';
  await db.schema
    .createTable('experiments')
    .addColumn('experiment_id', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('artifact_location', 'text', (c) => c.notNull())
    .addColumn('lifecycle_stage', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('creation_time', 'bigint', (c) => c.notNull())
    .addColumn('last_update_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('experiment_tags')
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('experiment_tags_pk', ['experiment_id', 'key'])
    .execute();

  await db.schema
    .createTable('traces')
    .addColumn('trace_id', 'text', (c) => c.primaryKey())
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('client_request_id', 'text')
    .addColumn('request_time', 'bigint', (c) => c.notNull())
    .addColumn('execution_duration', 'bigint')
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('request_preview', 'text')
    .addColumn('response_preview', 'text')
    .addColumn('name', 'text')
    .addColumn('user_id', 'text')
    .addColumn('session_id', 'text')
    .addColumn('input_tokens', 'bigint')
    .addColumn('output_tokens', 'bigint')
    .addColumn('total_tokens', 'bigint')
    .addColumn('span_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Each index serves a query the seed makes: newest traces, a user's, a session's.
  await db.schema.createIndex('traces_exp_time').on('traces').columns(['experiment_id', 'request_time', 'trace_id']).execute();
  await db.schema.createIndex('traces_exp_user_time').on('traces').columns(['experiment_id', 'user_id', 'request_time']).execute();
  await db.schema.createIndex('traces_exp_session_time').on('traces').columns(['experiment_id', 'session_id', 'request_time']).execute();
  await db.schema.createIndex('traces_client_request_id').on('traces').column('client_request_id').execute();

  await db.schema
    .createTable('trace_metadata')
    .addColumn('trace_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('trace_metadata_pk', ['trace_id', 'key'])
    .execute();
  // Metadata values may be long (previews are copied into mlflow.traceInputs), past PostgreSQL's
  // B-tree entry limit; a hash index there serves equality on any length.
  if (postgres) {
    await db.schema.createIndex('trace_metadata_value').on('trace_metadata').using('hash').column('value').execute();
  } else {
    await db.schema.createIndex('trace_metadata_key_value').on('trace_metadata').columns(['key', 'value']).execute();
  }

  // Tag values reach 4096 characters, past PostgreSQL's B-tree entry limit: no value index.
  await db.schema
    .createTable('trace_tags')
    .addColumn('trace_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('trace_tags_pk', ['trace_id', 'key'])
    .execute();
  await db.schema.createIndex('trace_tags_key').on('trace_tags').columns(['key', 'trace_id']).execute();

  await db.schema
    .createTable('spans')
    .addColumn('trace_id', 'text', (c) => c.notNull())
    .addColumn('span_id', 'text', (c) => c.notNull())
    .addColumn('parent_span_id', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('start_ns', 'bigint', (c) => c.notNull())
    .addColumn('end_ns', 'bigint')
    .addColumn('content', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('spans_pk', ['trace_id', 'span_id'])
    .execute();

  await db.schema
    .createTable('assessments')
    .addColumn('assessment_id', 'text', (c) => c.primaryKey())
    .addColumn('trace_id', 'text', (c) => c.notNull())
    .addColumn('span_id', 'text')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('value', 'text')
    .addColumn('content', 'text', (c) => c.notNull())
    .addColumn('valid', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('create_time', 'bigint', (c) => c.notNull())
    .addColumn('last_update_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('assessments_trace').on('assessments').columns(['trace_id', 'name']).execute();

  await db.schema
    .createTable('sessions')
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('first_time', 'bigint', (c) => c.notNull())
    .addColumn('last_time', 'bigint', (c) => c.notNull())
    .addColumn('last_end_time', 'bigint', (c) => c.notNull())
    .addColumn('trace_count', 'bigint', (c) => c.notNull())
    .addColumn('error_count', 'bigint', (c) => c.notNull())
    .addColumn('input_tokens', 'bigint', (c) => c.notNull())
    .addColumn('output_tokens', 'bigint', (c) => c.notNull())
    .addColumn('total_tokens', 'bigint', (c) => c.notNull())
    .addColumn('user_count', 'bigint', (c) => c.notNull())
    .addColumn('first_trace_id', 'text', (c) => c.notNull())
    .addColumn('first_request_preview', 'text')
    .addColumn('last_trace_id', 'text', (c) => c.notNull())
    .addColumn('last_response_preview', 'text')
    .addPrimaryKeyConstraint('sessions_pk', ['experiment_id', 'session_id'])
    .execute();
  await db.schema.createIndex('sessions_exp_last_time').on('sessions').columns(['experiment_id', 'last_time', 'session_id']).execute();

  await db.schema
    .createTable('users')
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('first_time', 'bigint', (c) => c.notNull())
    .addColumn('last_time', 'bigint', (c) => c.notNull())
    .addColumn('trace_count', 'bigint', (c) => c.notNull())
    .addColumn('session_count', 'bigint', (c) => c.notNull())
    .addColumn('error_count', 'bigint', (c) => c.notNull())
    .addColumn('input_tokens', 'bigint', (c) => c.notNull())
    .addColumn('output_tokens', 'bigint', (c) => c.notNull())
    .addColumn('total_tokens', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('users_pk', ['experiment_id', 'user_id'])
    .execute();
  await db.schema.createIndex('users_exp_trace_count').on('users').columns(['experiment_id', 'trace_count', 'user_id']).execute();
  await db.schema.createIndex('users_exp_last_time').on('users').columns(['experiment_id', 'last_time', 'user_id']).execute();

  await db.schema
    .createTable('session_users')
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('session_users_pk', ['experiment_id', 'user_id', 'session_id'])
    .execute();
  await db.schema.createIndex('session_users_session').on('session_users').columns(['experiment_id', 'session_id']).execute();

  const now = Date.now();
  await sql`INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
            VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', ${now}, ${now})`.execute(db);
}
