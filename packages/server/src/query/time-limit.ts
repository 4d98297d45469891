import { invalidParameter, type ApiError } from '../errors.js';

/**
 * The answer to a search stopped at its time limit (DESIGN.md §8: every query has one).
 *
 * A 400 `INVALID_PARAMETER_VALUE`, not a 503 or a 429: the same search over the same data would
 * run as long again, so it is the filter that asks too much, and the caller should narrow it. The
 * MLflow clients retry 429 and 5xx replies with backoff (the Python client several times by default), which
 * would repeat the work that was just cut short; a 400 is shown to the person who wrote the filter.
 *
 * PostgreSQL's own cancellation (`statement_timeout`, SQLSTATE 57014) is answered the same way,
 * without the number, which its error does not carry (http/failures.ts).
 *
 * @example
 * throw searchTimeLimitError(10_000);
 */
export function searchTimeLimitError(limitMillis?: number): ApiError {
  return invalidParameter(
    `Search stopped: it ran longer than the server's limit${limitMillis === undefined ? '' : ` of ${limitMillis} ms`}. ` +
      'Narrow the filter (a time range, an exact user or session, fewer LIKE / RLIKE clauses on span contents) or order by timestamp.',
  );
}
