/**
 * The search database's `user_hours` and `session_hours` (migration 011): the generator writes
 * traces and their cost as raw rows, so these are counted here from the traces, as the migration
 * fills them on an existing database, whenever their totals differ from the traces' (a new
 * build, or a cost pass that changed the traces' cost).
 */
import Database from 'better-sqlite3';

const HOUR_MS = 3_600_000;
const TABLES = [
  ['user_hours', 'user_id'],
  ['session_hours', 'session_id'],
];

export function ensureKeyHours({ path, log }) {
  const db = new Database(path);
  try {
    for (const [table, column] of TABLES) {
      const want = db.prepare(`SELECT COUNT(*) AS n, COALESCE(SUM(cost_nanos), 0) AS c, COALESCE(SUM(total_tokens), 0) AS t FROM traces WHERE ${column} IS NOT NULL`).get();
      const have = db.prepare(`SELECT COALESCE(SUM(trace_count), 0) AS n, COALESCE(SUM(cost_nanos), 0) AS c, COALESCE(SUM(total_tokens), 0) AS t FROM ${table}`).get();
      if (want.n === have.n && want.c === have.c && want.t === have.t) continue;
      const started = performance.now();
      db.transaction(() => {
        db.exec(`DELETE FROM ${table}`);
        db.exec(`INSERT INTO ${table} (experiment_id, hour_start, ${column}, trace_count, error_count, total_tokens, cost_nanos)
          SELECT experiment_id, request_time - request_time % ${HOUR_MS}, ${column}, COUNT(*), SUM(CASE WHEN state = 'ERROR' THEN 1 ELSE 0 END),
            SUM(COALESCE(total_tokens, 0)), SUM(COALESCE(cost_nanos, 0))
          FROM traces WHERE ${column} IS NOT NULL GROUP BY experiment_id, request_time - request_time % ${HOUR_MS}, ${column}`);
      })();
      log(`database: counted ${table} from the traces in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  } finally {
    db.close();
  }
}
