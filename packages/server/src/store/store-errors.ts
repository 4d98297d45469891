/**
 * What a database failure means to a caller, decided in one place for both stores: the
 * transaction runner retries conflicts, the HTTP layer answers the rest (503 with Retry-After
 * for a store that is briefly unreachable, 400 for a query that ran past its time limit).
 */
export type DatabaseFailure =
  /** Two transactions collided (serialization failure, deadlock): running it again succeeds. */
  | 'conflict'
  /** The database cannot be reached or refused the work for now (connection lost, busy, shutting down). */
  | 'unavailable'
  /** The statement ran past its time limit and was cancelled. */
  | 'timeout'
  /** Text the database cannot hold (PostgreSQL refuses U+0000 in text). */
  | 'invalid-text';

// PostgreSQL SQLSTATEs (appendix A of its manual), by what they mean to a caller.
const CONFLICT_STATES = new Set(['40001', '40P01']);
const UNAVAILABLE_STATES = new Set([
  '53000', // insufficient_resources
  '53100', // disk_full
  '53200', // out_of_memory
  '53300', // too_many_connections
  '55P03', // lock_not_available (lock_timeout)
  '57P01', // admin_shutdown: the backend was terminated
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or in recovery
  '57P05', // idle_session_timeout
  '25P03', // idle_in_transaction_session_timeout
]);
const INVALID_TEXT_STATES = new Set(['22021', '22P05']);

// Node's socket errors, and better-sqlite3's codes for a locked or failing file.
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
const UNAVAILABLE_SQLITE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|PROTOCOL)/;

// node-postgres reports a lost socket or an exhausted pool with plain Errors and these messages.
const UNAVAILABLE_MESSAGES = [
  'Connection terminated',
  'connection error and is not queryable',
  'timeout exceeded when trying to connect',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end on the pool',
  'terminating connection',
];

/**
 * Classifies an error thrown by a database driver, or `undefined` for anything else (a bug, a
 * constraint the code should have prevented): those stay 500s.
 *
 * @example
 * databaseFailure(Object.assign(new Error('deadlock detected'), { code: '40P01' })); // 'conflict'
 */
export function databaseFailure(error: unknown): DatabaseFailure | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error instanceof StoreUnavailableError) return 'unavailable';
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (CONFLICT_STATES.has(code)) return 'conflict';
    if (code === '57014') return 'timeout';
    if (INVALID_TEXT_STATES.has(code)) return 'invalid-text';
    if (UNAVAILABLE_STATES.has(code) || code.startsWith('08') || UNAVAILABLE_ERRNOS.has(code) || UNAVAILABLE_SQLITE.test(code)) return 'unavailable';
  }
  if (UNAVAILABLE_MESSAGES.some((m) => error.message.includes(m))) return 'unavailable';
  return undefined;
}

/** The store could not do the work now; the HTTP layer answers 503 with Retry-After. */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
