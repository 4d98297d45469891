import type { Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * Erasures (store/erasures.ts): the receipt of each erase of a user's or a session's data, kept
 * after the data is gone. It names its subject only by a SHA-256 digest (whoever holds the id can
 * check a receipt; the receipt alone does not say whom it was about), and the erased traces by a
 * hash chain over their ids. `state` `running` with a lapsed `lease_until` is an erase some process
 * left unfinished (it crashed): the next one to look resumes it.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('erasures')
    .addColumn('erasure_id', 'text', (c) => c.primaryKey())
    // `user` or `session`.
    .addColumn('kind', 'text', (c) => c.notNull())
    // The subject's id while the erase runs (it is needed to find what is left); null once done.
    .addColumn('subject', 'text')
    .addColumn('subject_digest', 'text', (c) => c.notNull())
    // JSON list of experiment ids.
    .addColumn('experiment_ids', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text', (c) => c.notNull())
    .addColumn('requested_time', 'bigint', (c) => c.notNull())
    .addColumn('completed_time', 'bigint')
    // `running` or `complete`.
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('lease_until', 'bigint', (c) => c.notNull())
    // JSON object: rows deleted per kind.
    .addColumn('counts', 'text', (c) => c.notNull())
    .addColumn('trace_ids_digest', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('erasures_state').on('erasures').columns(['state', 'lease_until']).execute();
}
