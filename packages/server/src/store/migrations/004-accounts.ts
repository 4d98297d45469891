import type { Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * Accounts of people who use Threadline (not the end users of a traced app: those are the
 * `users` rollup), their API tokens, UI sessions, per-experiment permissions and the audit log.
 * Secrets are stored only as hashes: passwords with scrypt, tokens and session ids with SHA-256.
 */
export async function up(db: Kysely<unknown>, ctx: MigrationContext): Promise<void> {
  const postgres = ctx.dialect === 'postgres';
  await db.schema
    .createTable('accounts')
    .addColumn('account_id', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('username', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text')
    .addColumn('is_admin', 'integer', (c) => c.notNull())
    .addColumn('created_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('api_tokens')
    .addColumn('token_id', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'bigint', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_time', 'bigint', (c) => c.notNull())
    .addColumn('last_used_time', 'bigint')
    .addColumn('revoked_time', 'bigint')
    .execute();
  await db.schema.createIndex('api_tokens_account').on('api_tokens').columns(['account_id', 'created_time']).execute();
  await db.schema
    .createTable('ui_sessions')
    .addColumn('session_hash', 'text', (c) => c.primaryKey())
    .addColumn('account_id', 'bigint', (c) => c.notNull())
    .addColumn('csrf_token', 'text', (c) => c.notNull())
    .addColumn('created_time', 'bigint', (c) => c.notNull())
    .addColumn('expires_time', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('experiment_permissions')
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('account_id', 'bigint', (c) => c.notNull())
    .addColumn('permission', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('experiment_permissions_pk', ['experiment_id', 'account_id'])
    .execute();
  await db.schema.createIndex('experiment_permissions_account').on('experiment_permissions').columns(['account_id', 'experiment_id']).execute();
  await db.schema
    .createTable('audit_events')
    .addColumn('event_id', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('time', 'bigint', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('details', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('audit_events_time').on('audit_events').columns(['time', 'event_id']).execute();
}
