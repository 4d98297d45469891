// @ts-check
/**
 * The SQL functions searches call on SQLite, registered on every connection that runs them: the
 * store's own and each search thread's (search-worker.js). Plain JavaScript, because a worker
 * thread loads its module by path, and Node runs this file as it is from src/ (under vitest) and
 * from dist/ (tsc copies and checks it).
 */
import { RE2JS } from 're2js';

/** Thrown from inside a statement that went past its time limit; SQLite then stops the statement. */
export class StatementTimeLimitError extends Error {
  /** @param {number} limitMillis */
  constructor(limitMillis) {
    super(`the statement ran past its time limit of ${limitMillis} ms`);
    this.name = 'StatementTimeLimitError';
  }
}

/**
 * @typedef {object} SearchFunctions
 * @property {<T>(limitMillis: number, run: () => T) => T} within Runs `run` (which steps a statement
 *   on this connection) so that a statement calling the time-limit function stops with a
 *   StatementTimeLimitError once `limitMillis` have passed.
 */

/**
 * Registers `regexp` (RLIKE) and the time-limit function on a connection.
 *
 * @example
 * const search = registerSearchFunctions(database, TIME_LIMIT_FUNCTION);
 * const rows = search.within(10_000, () => statement.all(parameters));
 *
 * @param {import('better-sqlite3').Database} database
 * @param {string} timeLimitFunction the name searches call it by (TIME_LIMIT_FUNCTION in sqlite-dialect.ts)
 * @returns {SearchFunctions}
 */
export function registerSearchFunctions(database, timeLimitFunction) {
  let deadline = Infinity;
  let limit = 0;
  // Not deterministic, so that SQLite calls it for every row instead of once per statement. Its
  // cost is a call into JavaScript per row: ~0.1-0.25 us, against 0.4-7 us per row of a search.
  database.function(timeLimitFunction, { deterministic: false }, () => {
    if (Date.now() > deadline) throw new StatementTimeLimitError(limit);
    return 1;
  });
  database.function('regexp', { deterministic: true }, rlikeFunction());
  return {
    within(limitMillis, run) {
      limit = limitMillis;
      deadline = Date.now() + limitMillis;
      try {
        return run();
      } finally {
        deadline = Infinity;
      }
    },
  };
}

/**
 * SQLite's REGEXP, with RLIKE's meaning on PostgreSQL: the pattern's portable form (portableRegex
 * in query/regex-pattern.ts) run unanchored on RE2, which matches in time linear in the value
 * whatever the pattern, with `.` matching newlines: the program compileRlike compiles there, which
 * query/regex-pattern.test.ts checks against this function. NULL or an invalid pattern matches
 * nothing. Filters reuse a handful of patterns over many rows, so each is compiled once.
 *
 * @returns {(pattern: unknown, value: unknown) => number}
 */
function rlikeFunction() {
  /** @type {Map<string, RE2JS | null>} */
  const compiled = new Map();
  return (pattern, value) => {
    if (typeof pattern !== 'string' || value === null || value === undefined) return 0;
    let re = compiled.get(pattern);
    if (re === undefined) {
      try {
        re = RE2JS.compile(pattern, RE2JS.DOTALL);
      } catch {
        re = null;
      }
      if (compiled.size > 256) compiled.clear();
      compiled.set(pattern, re);
    }
    return re !== null && re.test(String(value)) ? 1 : 0;
  };
}
