import { sql, type Kysely } from 'kysely';
import { HOUR_MS, latencyBinSql } from '../trace-metrics.js';
import type { MigrationContext } from './migrations.js';

/**
 * The `trace_hours` rollup (schema.ts), filled from the traces already stored: the overview's
 * month of charts then reads ~720 hours' rows instead of scanning every trace of the month.
 * Existing traces all go to shard 0; only sums over shards are ever read.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema
    .createTable('trace_hours')
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('hour_start', 'bigint', (c) => c.notNull())
    .addColumn('latency_bin', 'integer', (c) => c.notNull())
    .addColumn('shard', 'integer', (c) => c.notNull())
    .addColumn('trace_count', 'bigint', (c) => c.notNull())
    .addColumn('error_count', 'bigint', (c) => c.notNull())
    .addColumn('input_tokens', 'bigint', (c) => c.notNull())
    .addColumn('output_tokens', 'bigint', (c) => c.notNull())
    .addColumn('total_tokens', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('trace_hours_pk', ['experiment_id', 'hour_start', 'latency_bin', 'shard'])
    .execute();
  const hour = sql`request_time - request_time % ${sql.lit(HOUR_MS)}`;
  const bin = latencyBinSql('execution_duration');
  await sql`
    INSERT INTO trace_hours (experiment_id, hour_start, latency_bin, shard, trace_count, error_count, input_tokens, output_tokens, total_tokens)
    SELECT experiment_id, ${hour}, ${bin}, 0, COUNT(*), SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END),
      SUM(COALESCE(input_tokens, 0)), SUM(COALESCE(output_tokens, 0)), SUM(COALESCE(total_tokens, 0))
    FROM traces GROUP BY experiment_id, ${hour}, ${bin}`.execute(db);
}
