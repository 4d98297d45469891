import { sql, type Kysely, type Transaction } from 'kysely';
import { runSql } from './fast-sql.js';
import type { RollupContribution } from './rollups.js';
import type { Database } from './schema.js';
import { HOUR_MS, hourOf } from './trace-metrics.js';

type Db = Kysely<Database> | Transaction<Database>;

/** The two keys a trace is counted under per hour (migration 011), in lock order: users, then sessions. */
export const KEY_HOUR_TABLES = [
  { kind: 'user', table: 'user_hours', column: 'user_id', idOf: (c: RollupContribution) => c.userId },
  { kind: 'session', table: 'session_hours', column: 'session_id', idOf: (c: RollupContribution) => c.sessionId },
] as const;

export type KeyKind = (typeof KEY_HOUR_TABLES)[number]['kind'];

export function keyHourTable(kind: KeyKind) {
  return KEY_HOUR_TABLES.find((t) => t.kind === kind)!;
}

/** The upsert of one key's hour by difference, answering the row's count after it. */
function keyHourUpsert(table: string, column: string): string {
  return `INSERT INTO ${table} (experiment_id, hour_start, ${column}, trace_count, error_count, total_tokens, cost_nanos) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (experiment_id, hour_start, ${column}) DO UPDATE SET trace_count = ${table}.trace_count + ?, error_count = ${table}.error_count + ?,
      total_tokens = ${table}.total_tokens + ?, cost_nanos = ${table}.cost_nanos + ?
    RETURNING trace_count`;
}

interface KeyHourDelta {
  experiment_id: number;
  hour_start: number;
  id: string;
  trace_count: number;
  error_count: number;
  total_tokens: number;
  cost_nanos: number;
}

/**
 * Step 5 of the lock order, after `trace_hours` (rollups.ts): adds (sign 1) or takes away (sign
 * -1) traces' counts in `user_hours`, then `session_hours`, by difference, rows in key order. A
 * row whose last trace left is deleted by the transaction that holds it (its upsert took the
 * lock): an erased user's or session's id must not stay behind in an empty row.
 */
export async function shiftKeyHours(db: Db, changes: readonly { c: RollupContribution; sign: 1 | -1 }[]): Promise<void> {
  for (const { table, column, idOf } of KEY_HOUR_TABLES) {
    const rows = new Map<string, KeyHourDelta>();
    for (const { c, sign } of changes) {
      const id = idOf(c);
      if (id === null) continue;
      const hour = hourOf(c.requestTime);
      const key = `${String(c.experimentId).padStart(20, '0')}:${String(hour).padStart(16, '0')}:${id}`;
      let row = rows.get(key);
      if (!row) rows.set(key, (row = { experiment_id: c.experimentId, hour_start: hour, id, trace_count: 0, error_count: 0, total_tokens: 0, cost_nanos: 0 }));
      row.trace_count += sign;
      row.error_count += c.isError ? sign : 0;
      row.total_tokens += sign * c.totalTokens;
      row.cost_nanos += sign * c.costNanos;
    }
    for (const key of [...rows.keys()].sort()) {
      const { id, ...row } = rows.get(key)!;
      if (row.trace_count === 0 && row.error_count === 0 && row.total_tokens === 0 && row.cost_nanos === 0) continue;
      const added = await runSql<{ trace_count: number | string }>(db, keyHourUpsert(table, column), [
        row.experiment_id, row.hour_start, id, row.trace_count, row.error_count, row.total_tokens, row.cost_nanos,
        row.trace_count, row.error_count, row.total_tokens, row.cost_nanos,
      ]);
      if (Number(added.rows[0]?.trace_count) === 0) {
        await runSql(db, `DELETE FROM ${table} WHERE experiment_id = ? AND hour_start = ? AND ${column} = ?`, [row.experiment_id, row.hour_start, id]);
      }
    }
  }
}

/**
 * Rebuilds the hour rows of these users or sessions from their traces (a repair, and how
 * fixtures written as raw rows get them; rollups.ts recomputeRollups). Reads each key's traces
 * through its (experiment, key, time) index; deletes the key's rows over the experiment's hours.
 */
export async function recomputeKeyHours(db: Db, experimentId: number, kind: KeyKind, ids: readonly string[]): Promise<void> {
  const { table, column } = keyHourTable(kind);
  const hour = sql`request_time - request_time % ${sql.lit(HOUR_MS)}`;
  for (const id of [...ids].sort()) {
    await sql`DELETE FROM ${sql.table(table)} WHERE experiment_id = ${experimentId} AND ${sql.ref(column)} = ${id}`.execute(db);
    await sql`
      INSERT INTO ${sql.table(table)} (experiment_id, hour_start, ${sql.ref(column)}, trace_count, error_count, total_tokens, cost_nanos)
      SELECT experiment_id, ${hour}, ${sql.ref(column)}, COUNT(*), SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END), SUM(COALESCE(total_tokens, 0)), SUM(COALESCE(cost_nanos, 0))
      FROM traces WHERE experiment_id = ${experimentId} AND ${sql.ref(column)} = ${id}
      GROUP BY experiment_id, ${hour}, ${sql.ref(column)}`.execute(db);
  }
}
