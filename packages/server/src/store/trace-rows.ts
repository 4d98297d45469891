import { TraceState } from '@threadline/protocol';
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { StoredAssessment, StoredTrace } from '../trace-model.js';
import { loadAssessments } from './assessment-rows.js';
import { callsOfTraces, mlflowCostJson } from './cost-writes.js';
import type { RollupContribution } from './rollups.js';
import type { Database, TracesTable } from './schema.js';
import { placeholders, runSql } from './fast-sql.js';
import type { SqlDialect } from './sql-dialect.js';

/** A `traces` row as read and written by the store. */
export type TraceRow = Selectable<TracesTable>;
/** A trace's row before it is inserted: the database gives its `trace_key`. */
export type NewTraceRow = Omit<TraceRow, 'trace_key'>;

type Db = Kysely<Database> | Transaction<Database>;

/**
 * The `trace_key` of the traces with these ids, as a subquery: a trace's metadata, tags, spans
 * and LLM calls are keyed by it (migrations 015 and 016).
 */
export function traceKeysOf(db: Db, traceIds: string | readonly string[]) {
  const keys = db.selectFrom('traces').select('trace_key');
  return typeof traceIds === 'string' ? keys.where('trace_id', '=', traceIds) : keys.where('trace_id', 'in', traceIds);
}

/** Every column of a `traces` row but its `trace_key` (which the database gives), in the order it is inserted. */
export const TRACE_COLUMNS = [
  'trace_id', 'experiment_id', 'client_request_id', 'request_time', 'execution_duration', 'state', 'request_preview', 'response_preview', 'name',
  'user_id', 'session_id', 'input_tokens', 'output_tokens', 'total_tokens', 'span_count', 'cost_nanos', 'unpriced_calls',
] as const satisfies readonly (keyof TraceRow)[];
/** Fails to compile when `traces` gains a column the list above lacks. */
const everyTraceColumn: Exclude<keyof TraceRow, (typeof TRACE_COLUMNS)[number] | 'trace_key'> extends never ? true : never = true;
void everyTraceColumn;

/** A trace id that no trace has. The HTTP layer answers it with 404. */
export class TraceNotFoundError extends Error {
  constructor(readonly traceId: string) {
    super(`Trace with id '${traceId}' not found.`);
    this.name = 'TraceNotFoundError';
  }
}

/** What a trace row counts for in the rollups. */
export function contributionOf(row: TraceRow): RollupContribution {
  return {
    experimentId: Number(row.experiment_id),
    traceId: row.trace_id,
    sessionId: row.session_id,
    userId: row.user_id,
    requestTime: Number(row.request_time),
    endTime: Number(row.request_time) + Number(row.execution_duration ?? 0),
    durationMs: row.execution_duration === null ? null : Number(row.execution_duration),
    isError: row.state === TraceState.ERROR,
    inputTokens: Number(row.input_tokens ?? 0),
    outputTokens: Number(row.output_tokens ?? 0),
    totalTokens: Number(row.total_tokens ?? 0),
    costNanos: Number(row.cost_nanos ?? 0),
    requestPreview: row.request_preview,
    responsePreview: row.response_preview,
  };
}

export async function loadTraces(db: Db, traceIds: readonly string[]): Promise<StoredTrace[]> {
  if (traceIds.length === 0) return [];
  const ids = [...traceIds];
  const [rows, metadata, tags, assessments] = await Promise.all([
    db.selectFrom('traces').selectAll().where('trace_id', 'in', ids).execute(),
    keyValuesOf(db, 'trace_metadata', ids),
    keyValuesOf(db, 'trace_tags', ids),
    loadAssessments(db, ids),
  ]);
  const metadataOf = groupByTrace(metadata);
  const tagsOf = groupByTrace(tags);
  // Cost parts are read only for traces that have a cost.
  const calls = await callsOfTraces(db, rows.filter((r) => r.cost_nanos !== null).map((r) => r.trace_id));
  return rows.map((r) => ({
    ...storedTraceOf(r, metadataOf.get(r.trace_id) ?? {}, tagsOf.get(r.trace_id) ?? {}, assessments.get(r.trace_id) ?? []),
    cost: mlflowCostJson(calls.get(r.trace_id) ?? []),
  }));
}

/**
 * Step 1 of the lock order (rollups.ts) for a write of one existing trace: its row, read to be
 * rewritten. On PostgreSQL the row is locked until the transaction ends, so that replicas writing
 * one trace at once (a retry, OTLP batches, a span upload, an assessment) take turns; SQLite's
 * single writer already does. Undefined when the trace does not exist.
 */
const SELECT_TRACE_ROW = `SELECT trace_key, ${TRACE_COLUMNS.join(', ')} FROM traces WHERE trace_id = ?`;

export async function lockTraceRow(trx: Db, dialect: SqlDialect, traceId: string): Promise<TraceRow | undefined> {
  // Columns by name, never `*`: a prepared statement (PostgreSQL) whose result gains a column when
  // another replica migrates fails until its connection is replaced.
  const text = `${SELECT_TRACE_ROW}${dialect.name === 'postgres' ? ' FOR UPDATE' : ''}`;
  return (await runSql<TraceRow>(trx, text, [traceId])).rows[0];
}

export async function loadTrace(db: Db, traceId: string): Promise<StoredTrace> {
  const [trace] = await loadTraces(db, [traceId]);
  if (!trace) throw new TraceNotFoundError(traceId);
  return trace;
}

export function storedTraceOf(r: TraceRow, metadata: Record<string, string>, tags: Record<string, string>, assessments: StoredAssessment[] = []): StoredTrace {
  return {
    traceId: r.trace_id,
    experimentId: String(r.experiment_id),
    clientRequestId: r.client_request_id,
    requestTimeMs: Number(r.request_time),
    executionDurationMs: r.execution_duration === null ? null : Number(r.execution_duration),
    state: r.state as TraceState,
    requestPreview: r.request_preview,
    responsePreview: r.response_preview,
    metadata,
    tags,
    name: r.name,
    userId: r.user_id,
    sessionId: r.session_id,
    tokenUsage:
      r.total_tokens === null
        ? null
        : { inputTokens: Number(r.input_tokens ?? 0), outputTokens: Number(r.output_tokens ?? 0), totalTokens: Number(r.total_tokens) },
    cost: r.cost_nanos === null ? null : { total_cost: Number(r.cost_nanos) / 1e9 },
    unpricedCalls: Number(r.unpriced_calls),
    spanCount: Number(r.span_count),
    assessments,
  };
}

/** The metadata or tags of these traces, each row with its trace's id. */
async function keyValuesOf(db: Db, table: 'trace_metadata' | 'trace_tags', traceIds: readonly string[]) {
  const text = `SELECT t.trace_id, kv.key, kv.value FROM ${table} AS kv JOIN traces AS t ON t.trace_key = kv.trace_key WHERE t.trace_id IN (${placeholders(traceIds.length)})`;
  return (await runSql<{ trace_id: string; key: string; value: string }>(db, text, traceIds)).rows;
}

function groupByTrace(rows: { trace_id: string; key: string; value: string }[]): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const row of rows) {
    let entry = out.get(row.trace_id);
    if (!entry) out.set(row.trace_id, (entry = {}));
    entry[row.key] = row.value;
  }
  return out;
}
