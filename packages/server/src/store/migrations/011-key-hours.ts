import { sql, type Kysely } from 'kysely';
import { HOUR_MS } from '../trace-metrics.js';
import type { MigrationContext } from './migrations.js';

/**
 * `user_hours` and `session_hours` (store/key-hours.ts): per experiment, hour and user (session)
 * the traces, errors, tokens and cost of its traces that started in that hour. The overview by
 * user or session, and the range's top spenders, read them instead of grouping every trace of
 * the range (~3 s per grouping at 1M traces on SQLite). Keyed by hour first: the overview reads a
 * range of hours for every key. Filled here from the traces already stored.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  for (const [table, column] of [['user_hours', 'user_id'], ['session_hours', 'session_id']] as const) {
    await db.schema
      .createTable(table)
      .addColumn('experiment_id', 'bigint', (c) => c.notNull())
      .addColumn('hour_start', 'bigint', (c) => c.notNull())
      .addColumn(column, 'text', (c) => c.notNull())
      .addColumn('trace_count', 'bigint', (c) => c.notNull())
      .addColumn('error_count', 'bigint', (c) => c.notNull())
      .addColumn('total_tokens', 'bigint', (c) => c.notNull())
      .addColumn('cost_nanos', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['experiment_id', 'hour_start', column])
      .execute();
    const hour = sql`request_time - request_time % ${sql.lit(HOUR_MS)}`;
    await sql`
      INSERT INTO ${sql.table(table)} (experiment_id, hour_start, ${sql.ref(column)}, trace_count, error_count, total_tokens, cost_nanos)
      SELECT experiment_id, ${hour}, ${sql.ref(column)}, COUNT(*), SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END),
        SUM(COALESCE(total_tokens, 0)), SUM(COALESCE(cost_nanos, 0))
      FROM traces WHERE ${sql.ref(column)} IS NOT NULL GROUP BY experiment_id, ${hour}, ${sql.ref(column)}`.execute(db);
  }
}
