import { SpanAttributeKey } from '@threadline/protocol';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import { countedCalls, llmCallOf, type LlmCall } from '../cost/llm-calls.js';
import type { PriceBook } from '../cost/price-book.js';
import type { MlflowCostJson, SpanRecord } from '../trace-model.js';
import { insertRows, runSql } from './fast-sql.js';
import type { Database, LlmCallsTable } from './schema.js';
import { hourOf } from './trace-metrics.js';
import type { TraceRow } from './trace-rows.js';
import { storedSpanAttributes } from './spans.js';

type Db = Kysely<Database> | Transaction<Database>;
type CallRow = Selectable<LlmCallsTable>;
/** A call priced before its trace's row, and so its key, exists (`pricedNewTrace`). */
type PricedCall = Omit<CallRow, 'trace_key'>;

/** What a trace's calls add up to: the trace row's cost columns. */
export type TraceCost = Pick<TraceRow, 'cost_nanos' | 'unpriced_calls'>;

/** Every column of an `llm_calls` row, in the order it is inserted, after the trace's key. */
const CALL_COLUMNS = [
  'span_id', 'experiment_id', 'hour_start', 'model', 'provider', 'input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens',
  'reasoning_tokens', 'explicit_cost_nanos', 'cost_nanos', 'input_cost_nanos', 'output_cost_nanos', 'cost_source', 'counted',
] as const satisfies readonly (keyof PricedCall)[];
/** Fails to compile when `llm_calls` gains a column the list above lacks. */
const everyCallColumn: Exclude<keyof PricedCall, (typeof CALL_COLUMNS)[number]> extends never ? true : never = true;
void everyCallColumn;

/** One model_hours row moved by difference. */
const MODEL_HOUR_UPSERT = `INSERT INTO model_hours (experiment_id, hour_start, model, calls, unpriced_calls, input_tokens, output_tokens, cost_nanos) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (experiment_id, hour_start, model) DO UPDATE SET calls = model_hours.calls + ?, unpriced_calls = model_hours.unpriced_calls + ?,
    input_tokens = model_hours.input_tokens + ?, output_tokens = model_hours.output_tokens + ?, cost_nanos = model_hours.cost_nanos + ?`;

/** Large id lists are read in chunks, well under every database's bound-parameter limit. */
const ID_CHUNK = 500;

/**
 * The changes one transaction makes to `model_hours`, summed per row and written once in key
 * order: step 7 of the lock order (rollups.ts), after the feedback rollups. Only counted calls
 * count, as in their traces' cost.
 */
export class ModelHourDeltas {
  private readonly rows = new Map<string, { experiment_id: number; hour_start: number; model: string; calls: number; unpriced_calls: number; input_tokens: number; output_tokens: number; cost_nanos: number }>();

  add(call: Pick<CallRow, 'experiment_id' | 'hour_start' | 'model' | 'input_tokens' | 'output_tokens' | 'cost_nanos' | 'cost_source' | 'counted'>, sign: 1 | -1): void {
    if (!Number(call.counted)) return;
    const experimentId = Number(call.experiment_id);
    const hour = Number(call.hour_start);
    const id = `${String(experimentId).padStart(20, '0')}\u0000${String(hour).padStart(16, '0')}\u0000${call.model}`;
    let row = this.rows.get(id);
    if (!row) this.rows.set(id, (row = { experiment_id: experimentId, hour_start: hour, model: call.model, calls: 0, unpriced_calls: 0, input_tokens: 0, output_tokens: 0, cost_nanos: 0 }));
    row.calls += sign;
    row.unpriced_calls += call.cost_source === null ? sign : 0;
    row.input_tokens += sign * Number(call.input_tokens);
    row.output_tokens += sign * Number(call.output_tokens);
    row.cost_nanos += sign * Number(call.cost_nanos ?? 0);
  }

  async apply(db: Db): Promise<void> {
    for (const id of [...this.rows.keys()].sort()) {
      const row = this.rows.get(id)!;
      if (row.calls === 0 && row.unpriced_calls === 0 && row.input_tokens === 0 && row.output_tokens === 0 && row.cost_nanos === 0) continue;
      const counters = [row.calls, row.unpriced_calls, row.input_tokens, row.output_tokens, row.cost_nanos];
      await runSql(db, MODEL_HOUR_UPSERT, [row.experiment_id, row.hour_start, row.model, ...counters, ...counters]);
    }
    this.rows.clear();
  }
}

/** Whether a trace row says it has calls (so that traces without any cost no read of `llm_calls`). */
const hasCalls = (row: TraceCost) => row.cost_nanos !== null || Number(row.unpriced_calls) > 0;

function callRow(experimentId: number, call: LlmCall, book: PriceBook, counted: boolean): PricedCall {
  const price = book.price(call);
  return {
    span_id: call.spanId,
    experiment_id: experimentId,
    hour_start: hourOf(call.startMs),
    model: call.model,
    provider: call.provider,
    input_tokens: call.usage.inputTokens,
    output_tokens: call.usage.outputTokens,
    cache_read_tokens: call.usage.cacheReadTokens,
    cache_write_tokens: call.usage.cacheWriteTokens,
    reasoning_tokens: call.usage.reasoningTokens,
    explicit_cost_nanos: price.source === 'span' ? price.costNanos : null,
    cost_nanos: price.costNanos,
    input_cost_nanos: price.inputCostNanos,
    output_cost_nanos: price.outputCostNanos,
    cost_source: price.source,
    counted: counted ? 1 : 0,
  };
}

/** The trace's cost columns from all its calls. */
function costOfCalls(calls: readonly Pick<CallRow, 'cost_nanos' | 'cost_source' | 'counted'>[]): TraceCost {
  let cost: number | null = null;
  let unpriced = 0;
  for (const c of calls) {
    if (!Number(c.counted)) continue;
    if (c.cost_source === null) unpriced++;
    else cost = (cost ?? 0) + Number(c.cost_nanos ?? 0);
  }
  return { cost_nanos: cost, unpriced_calls: unpriced };
}

async function insertCalls(db: Db, traceKey: number, rows: readonly PricedCall[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ID_CHUNK) {
    const chunk = rows.slice(i, i + ID_CHUNK).map((row) => [traceKey, ...CALL_COLUMNS.map((column) => row[column])]);
    await insertRows(db, 'llm_calls', ['trace_key', ...CALL_COLUMNS], chunk, 'ON CONFLICT (trace_key, span_id) DO NOTHING');
  }
}

/**
 * The calls of a trace's first spans, priced, and its cost: computed before its row is written,
 * so that a trace created by one batch is written once, cost included.
 */
export function pricedNewTrace(experimentId: number, spans: readonly SpanRecord[], book: PriceBook): { rows: PricedCall[]; cost: TraceCost } {
  const calls = spans.map(llmCallOf).filter((c): c is LlmCall => c !== null);
  if (calls.length === 0) return { rows: [], cost: { cost_nanos: null, unpriced_calls: 0 } };
  const counted = countedCalls(calls, new Map(spans.map((s) => [s.spanId, s.parentSpanId])));
  const rows = calls.map((c) => callRow(experimentId, c, book, counted.has(c.spanId)));
  return { rows, cost: costOfCalls(rows) };
}

/** Stores the calls `pricedNewTrace` made, once the trace's row is created and has its key. */
export async function storeNewTraceCalls(trx: Db, traceKey: number, rows: readonly PricedCall[], deltas: ModelHourDeltas): Promise<void> {
  await insertCalls(trx, traceKey, rows);
  for (const row of rows) deltas.add(row, 1);
}

/**
 * Prices the model calls among spans just stored for a trace (`fresh`: new to it; spans are
 * write-once, and so are their calls) and answers the trace's cost with them. A trace without
 * calls before or in this batch costs no read. When it had some, its spans' parents are read to
 * decide again which calls count (a late span may make an earlier call the aggregate of a later
 * one), and a call whose say changed moves in `model_hours` too.
 */
export async function addTraceCalls(trx: Db, before: TraceRow, fresh: readonly SpanRecord[], book: PriceBook, deltas: ModelHourDeltas): Promise<TraceCost> {
  const calls = fresh.map(llmCallOf).filter((c): c is LlmCall => c !== null);
  const had = hasCalls(before);
  if (calls.length === 0 && (!had || fresh.length === 0)) return { cost_nanos: before.cost_nanos, unpriced_calls: before.unpriced_calls };
  const experimentId = Number(before.experiment_id);
  let parentOf: Map<string, string | null>;
  if (Number(before.span_count) > 0) {
    const rows = await trx.selectFrom('spans').select(['span_id', 'parent_span_id']).where('trace_key', '=', before.trace_key).execute();
    parentOf = new Map(rows.map((r) => [r.span_id, r.parent_span_id]));
    for (const s of fresh) parentOf.set(s.spanId, s.parentSpanId);
  } else {
    parentOf = new Map(fresh.map((s) => [s.spanId, s.parentSpanId]));
  }
  const stored = had ? await trx.selectFrom('llm_calls').selectAll().where('trace_key', '=', before.trace_key).execute() : [];
  const counted = countedCalls([...stored.map((r) => ({ spanId: r.span_id })), ...calls], parentOf);
  for (const row of stored) {
    const now = counted.has(row.span_id) ? 1 : 0;
    if (Number(row.counted) === now) continue;
    deltas.add(row, -1);
    row.counted = now;
    deltas.add(row, 1);
    await trx.updateTable('llm_calls').set({ counted: now }).where('trace_key', '=', before.trace_key).where('span_id', '=', row.span_id).execute();
  }
  const added = calls.map((c) => callRow(experimentId, c, book, counted.has(c.spanId)));
  await insertCalls(trx, before.trace_key, added);
  for (const row of added) deltas.add(row, 1);
  return costOfCalls([...stored, ...added]);
}

/** Takes deleted traces' calls out of `model_hours` and deletes them (answers how many); the traces (by key) are locked (step 1). */
export async function deleteTraceCalls(trx: Db, traceKeys: readonly number[], deltas: ModelHourDeltas): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < traceKeys.length; i += ID_CHUNK) {
    const chunk = traceKeys.slice(i, i + ID_CHUNK);
    const rows = await trx.selectFrom('llm_calls').selectAll().where('trace_key', 'in', chunk).where('counted', '=', 1).execute();
    for (const row of rows) deltas.add(row, -1);
    deleted += Number((await trx.deleteFrom('llm_calls').where('trace_key', 'in', chunk).executeTakeFirst()).numDeletedRows);
  }
  return deleted;
}

/**
 * Prices a stored trace again from its spans with today's prices: its calls are replaced (those
 * of traces stored before cost existed are made), `model_hours` moved by the difference, and the
 * new cost answered for the caller to write with its rollups. Only spans that mention usage or a
 * cost are parsed. The trace's row is locked (step 1).
 */
export async function repriceTraceCalls(trx: Db, trace: TraceRow, book: PriceBook, deltas: ModelHourDeltas): Promise<TraceCost> {
  const spans = await trx
    .selectFrom('spans')
    // Case-sensitive on both databases (the server's SQLite LIKE is), as the keys are.
    .select(['span_id', 'parent_span_id', 'start_ns', sql<string | null>`CASE WHEN content LIKE ${`%"${SpanAttributeKey.TOKEN_USAGE}"%`} OR content LIKE '%cost%' THEN content END`.as('content')])
    .where('trace_key', '=', trace.trace_key)
    .execute();
  const calls: LlmCall[] = [];
  for (const s of spans) {
    const call = s.content === null ? null : llmCallOf({ spanId: s.span_id, parentSpanId: s.parent_span_id, startNs: BigInt(s.start_ns), attributes: storedSpanAttributes(s.content) });
    if (call) calls.push(call);
  }
  const old = await trx.selectFrom('llm_calls').selectAll().where('trace_key', '=', trace.trace_key).execute();
  for (const row of old) deltas.add(row, -1);
  await trx.deleteFrom('llm_calls').where('trace_key', '=', trace.trace_key).execute();
  const counted = countedCalls(calls, new Map(spans.map((s) => [s.span_id, s.parent_span_id])));
  const rows = calls.map((c) => callRow(Number(trace.experiment_id), c, book, counted.has(c.spanId)));
  await insertCalls(trx, trace.trace_key, rows);
  for (const row of rows) deltas.add(row, 1);
  return costOfCalls(rows);
}

/** Cost of each of a page of traces' calls, by trace: for `mlflow.trace.cost` and the span view. */
export async function callsOfTraces(db: Db, traceIds: readonly string[]): Promise<Map<string, CallRow[]>> {
  const out = new Map<string, CallRow[]>();
  for (let i = 0; i < traceIds.length; i += ID_CHUNK) {
    const rows = await db
      .selectFrom('llm_calls as c')
      .innerJoin('traces as t', 't.trace_key', 'c.trace_key')
      .selectAll('c')
      .select('t.trace_id')
      .where('t.trace_id', 'in', traceIds.slice(i, i + ID_CHUNK))
      .execute();
    for (const row of rows) {
      let list = out.get(row.trace_id);
      if (!list) out.set(row.trace_id, (list = []));
      list.push(row);
    }
  }
  return out;
}

/** MLflow's cost shape of counted calls; parts only where every priced call has them. */
export function mlflowCostJson(calls: readonly Pick<CallRow, 'cost_nanos' | 'input_cost_nanos' | 'output_cost_nanos' | 'cost_source' | 'counted'>[]): MlflowCostJson | null {
  const priced = calls.filter((c) => Number(c.counted) && c.cost_source !== null);
  if (priced.length === 0) return null;
  const sum = (pick: (c: (typeof priced)[number]) => number | null) => priced.reduce((s, c) => s + Number(pick(c) ?? 0), 0) / 1e9;
  const parts = priced.every((c) => c.input_cost_nanos !== null && c.output_cost_nanos !== null);
  return {
    ...(parts ? { input_cost: sum((c) => c.input_cost_nanos), output_cost: sum((c) => c.output_cost_nanos) } : {}),
    total_cost: sum((c) => c.cost_nanos),
  };
}


/**
 * Each priced call's cost by trace, then span: the `mlflow.llm.cost` of the spans served to the
 * UI. Only counted calls, so that a trace's span costs add up to its own (an aggregate's total
 * would count its calls twice).
 */
export async function spanCostsOfTraces(db: Db, traceIds: readonly string[]): Promise<Map<string, Map<string, MlflowCostJson>>> {
  const out = new Map<string, Map<string, MlflowCostJson>>();
  for (const [traceId, calls] of await callsOfTraces(db, traceIds)) {
    const bySpan = new Map<string, MlflowCostJson>();
    for (const call of calls) {
      const cost = mlflowCostJson([call]);
      if (cost) bySpan.set(call.span_id, cost);
    }
    out.set(traceId, bySpan);
  }
  return out;
}
