import type { Kysely } from 'kysely';
import type { MigrationContext } from './migrations.js';

/**
 * Cost (cost/ and store/cost-writes.ts). Money is kept in whole nano-dollars (1e-9 USD) in
 * integer columns: rollups move by difference on every write, re-log, delete and re-pricing, and
 * integer sums come back exactly to zero where float sums leave residues. A nano-dollar is far
 * below any per-token price (the cheapest embeddings cost ~20 per token).
 *
 * - `traces.cost_nanos`: the trace's priced LLM calls; null while it has none. `unpriced_calls`:
 *   calls whose model no price is known for (they cost nothing, and are counted, never guessed).
 * - `sessions`, `users`, `trace_hours` gain the sums of their traces' cost.
 * - `llm_calls`: one row per span that made a model call, with what it was priced from, so that
 *   re-pricing and per-model charts never parse span JSON again.
 * - `model_hours`: per (experiment, hour of the call, model) calls, tokens, cost and unpriced
 *   calls: the overview's cost by model.
 * - `model_prices`: prices an operator set (their own fine-tune, a negotiated rate), which win
 *   over the bundled price table.
 *
 * Traces stored before this migration have no cost until `threadline reprice` prices them from
 * their spans.
 */
export async function up(db: Kysely<unknown>, _ctx: MigrationContext): Promise<void> {
  await db.schema.alterTable('traces').addColumn('cost_nanos', 'bigint').execute();
  await db.schema.alterTable('traces').addColumn('unpriced_calls', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  for (const table of ['sessions', 'users', 'trace_hours']) {
    await db.schema.alterTable(table).addColumn('cost_nanos', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
  }
  // "Top sessions / users by cost": the order reads the index, as the other list orders do.
  await db.schema.createIndex('sessions_exp_cost').on('sessions').columns(['experiment_id', 'cost_nanos', 'session_id']).execute();
  await db.schema.createIndex('users_exp_cost').on('users').columns(['experiment_id', 'cost_nanos', 'user_id']).execute();

  await db.schema
    .createTable('llm_calls')
    .addColumn('trace_id', 'text', (c) => c.notNull())
    .addColumn('span_id', 'text', (c) => c.notNull())
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('hour_start', 'bigint', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('provider', 'text')
    .addColumn('input_tokens', 'bigint', (c) => c.notNull())
    .addColumn('output_tokens', 'bigint', (c) => c.notNull())
    .addColumn('cache_read_tokens', 'bigint', (c) => c.notNull())
    .addColumn('cache_write_tokens', 'bigint', (c) => c.notNull())
    .addColumn('reasoning_tokens', 'bigint', (c) => c.notNull())
    // The cost the span carried itself (it wins over any price), in nano-dollars.
    .addColumn('explicit_cost_nanos', 'bigint')
    .addColumn('cost_nanos', 'bigint')
    // Its parts, where the price or the span's own cost says them.
    .addColumn('input_cost_nanos', 'bigint')
    .addColumn('output_cost_nanos', 'bigint')
    // `span`, `custom`, `table`, or null: unpriced.
    .addColumn('cost_source', 'text')
    // 0 when a descendant span is also a call: its usage is an aggregate of theirs.
    .addColumn('counted', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('llm_calls_pk', ['trace_id', 'span_id'])
    .execute();

  await db.schema
    .createTable('model_hours')
    .addColumn('experiment_id', 'bigint', (c) => c.notNull())
    .addColumn('hour_start', 'bigint', (c) => c.notNull())
    .addColumn('model', 'text', (c) => c.notNull())
    .addColumn('calls', 'bigint', (c) => c.notNull())
    .addColumn('unpriced_calls', 'bigint', (c) => c.notNull())
    .addColumn('input_tokens', 'bigint', (c) => c.notNull())
    .addColumn('output_tokens', 'bigint', (c) => c.notNull())
    .addColumn('cost_nanos', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_hours_pk', ['experiment_id', 'hour_start', 'model'])
    .execute();

  await db.schema
    .createTable('model_prices')
    .addColumn('model', 'text', (c) => c.primaryKey())
    // USD per million tokens.
    .addColumn('input_per_mtok', 'double precision', (c) => c.notNull())
    .addColumn('output_per_mtok', 'double precision', (c) => c.notNull())
    .addColumn('cache_read_per_mtok', 'double precision')
    .addColumn('cache_write_per_mtok', 'double precision')
    .addColumn('updated_time', 'bigint', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();
}
