// @ts-check
/**
 * A search thread (see search-threads.ts): runs the searches it is sent on its own read-only
 * connection to the store's database file, each within its time limit, and answers each with its
 * rows or its error. WAL lets it read while the store's connection writes.
 */
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { registerSearchFunctions, StatementTimeLimitError } from './search-functions.js';

/**
 * @typedef {{ id: number, sql: string, parameters: unknown[], timeLimitMillis: number }} SearchJob
 * @typedef {{ id: number, rows: unknown[] } | { id: number, error: { message: string, timedOut: boolean } }} SearchAnswer
 */

/** Distinct search statements kept prepared; searches reuse a few shapes. */
const STATEMENT_CACHE_SIZE = 100;

const port = parentPort;
if (!port) throw new Error('search-worker.js runs as a worker thread');
/** @type {{ path: string, timeLimitFunction: string }} */
const { path, timeLimitFunction } = workerData;
const database = new Database(path, { readonly: true, fileMustExist: true });
database.pragma('busy_timeout = 10000');
// MLflow's LIKE is case-sensitive on every database; a per-connection setting, as on the store's own.
database.pragma('case_sensitive_like = ON');
const search = registerSearchFunctions(database, timeLimitFunction);
/** @type {Map<string, import('better-sqlite3').Statement>} */
const statements = new Map();

/** @param {string} sql */
function prepare(sql) {
  let statement = statements.get(sql);
  if (statement) {
    statements.delete(sql);
  } else {
    statement = database.prepare(sql);
    if (!statement.reader) throw new Error('a search thread only reads');
    if (statements.size >= STATEMENT_CACHE_SIZE) statements.delete(statements.keys().next().value ?? '');
  }
  statements.set(sql, statement);
  return statement;
}

port.on('message', (/** @type {SearchJob} */ job) => {
  /** @type {SearchAnswer} */
  let answer;
  try {
    const statement = prepare(job.sql);
    answer = { id: job.id, rows: search.within(job.timeLimitMillis, () => statement.all(job.parameters)) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    answer = { id: job.id, error: { message, timedOut: error instanceof StatementTimeLimitError } };
  }
  port.postMessage(answer);
});
