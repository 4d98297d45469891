import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** What the models metrics endpoint asks of the store; the range and buckets in whole hours. */
export interface ModelMetricsQuery {
  experimentId: string;
  startTimeMs: number;
  endTimeMs: number;
  bucketMs: number;
  maxModels: number;
}

/** Counted LLM calls of one model: how many, how many unpriced, their tokens and cost. */
export interface ModelCounts {
  calls: number;
  unpricedCalls: number;
  inputTokens: number;
  outputTokens: number;
  costNanos: number;
}

export interface ModelSeries {
  model: string;
  total: ModelCounts;
  series: ModelCounts[];
}

const zero = (): ModelCounts => ({ calls: 0, unpricedCalls: 0, inputTokens: 0, outputTokens: 0, costNanos: 0 });

function addInto(into: ModelCounts, from: ModelCounts): void {
  into.calls += from.calls;
  into.unpricedCalls += from.unpricedCalls;
  into.inputTokens += from.inputTokens;
  into.outputTokens += from.outputTokens;
  into.costNanos += from.costNanos;
}

/**
 * LLM calls per model over time, from `model_hours` (one row per hour and model, found by its
 * primary key's range): the overview's cost by model reads a few hundred rows at any traffic.
 * Models are ordered by cost, then calls; the rest beyond `maxModels` are summed as `(other)`.
 */
export async function queryModelMetrics(db: Kysely<Database>, q: ModelMetricsQuery): Promise<ModelSeries[]> {
  const count = Math.ceil((q.endTimeMs - q.startTimeMs) / q.bucketMs);
  const rows = await db
    .selectFrom('model_hours')
    .select(['hour_start', 'model', 'calls', 'unpriced_calls', 'input_tokens', 'output_tokens', 'cost_nanos'])
    .where('experiment_id', '=', Number(q.experimentId))
    .where('hour_start', '>=', q.startTimeMs)
    .where('hour_start', '<', q.endTimeMs)
    .execute();
  const byModel = new Map<string, ModelSeries>();
  for (const row of rows) {
    let entry = byModel.get(row.model);
    if (!entry) byModel.set(row.model, (entry = { model: row.model, total: zero(), series: Array.from({ length: count }, zero) }));
    const counts: ModelCounts = {
      calls: Number(row.calls),
      unpricedCalls: Number(row.unpriced_calls),
      inputTokens: Number(row.input_tokens),
      outputTokens: Number(row.output_tokens),
      costNanos: Number(row.cost_nanos),
    };
    addInto(entry.total, counts);
    const point = entry.series[Math.floor((Number(row.hour_start) - q.startTimeMs) / q.bucketMs)];
    if (point) addInto(point, counts);
  }
  const models = [...byModel.values()]
    .filter((m) => m.total.calls !== 0)
    .sort((a, b) => b.total.costNanos - a.total.costNanos || b.total.calls - a.total.calls || (a.model < b.model ? -1 : 1));
  if (models.length <= q.maxModels) return models;
  const other: ModelSeries = { model: '(other)', total: zero(), series: Array.from({ length: count }, zero) };
  for (const m of models.slice(q.maxModels)) {
    addInto(other.total, m.total);
    m.series.forEach((p, i) => addInto(other.series[i]!, p));
  }
  return [...models.slice(0, q.maxModels), other];
}
