import type { Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * Indexes that serve the sessions and users endpoints in their full order (bench/search):
 *
 * - a session's turns are ordered by (request_time, trace_id); with trace_id in the session index
 *   the order comes straight from it. Without it SQLite (which has no statistics: the server runs
 *   no ANALYZE) preferred walking the whole experiment by time, 60 ms for a 10-turn session at
 *   100k traces. The new index covers every use of the old one, which is dropped.
 * - "top users by traces" is ordered by (trace_count DESC, last_time DESC, user_id); with
 *   last_time in the index only ties on both need sorting.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.createIndex('traces_exp_session_time_id').on('traces').columns(['experiment_id', 'session_id', 'request_time', 'trace_id']).execute();
  await db.schema.dropIndex('traces_exp_session_time').execute();
  await db.schema.createIndex('users_exp_traces_last').on('users').columns(['experiment_id', 'trace_count', 'last_time', 'user_id']).execute();
  await db.schema.dropIndex('users_exp_trace_count').execute();
}
