import type { Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * Leases (store/leases.ts): which process does a recurring job (retention) for now, so that
 * several replicas do not do the same work twice, and another takes over when the holder dies.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('until', 'bigint', (c) => c.notNull())
    .execute();
}
