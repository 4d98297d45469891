import { ErrorCode, type ErrorBody } from '@threadline/protocol';
import type { FastifyError } from 'fastify';
import { ApiError } from '../errors.js';
import { AssessmentNotFoundError, TraceNotFoundError } from '../store/kysely-store.js';
import { searchTimeLimitError } from '../query/time-limit.js';
import { databaseFailure } from '../store/store-errors.js';

/** Seconds a client is asked to wait (`Retry-After`) when the store is briefly unavailable. */
export const STORE_RETRY_AFTER_SECONDS = 2;

/** How a request that threw is answered: status, MLflow's error body, and when to come back. */
export interface FailureReply {
  status: number;
  body: ErrorBody;
  /** Sent as `Retry-After` (with 503 and 429). */
  retryAfterSeconds?: number;
}

/**
 * The one mapping from anything a handler throws to an HTTP answer, for the MLflow API and OTLP
 * alike. A database that cannot be reached or keeps colliding is a 503 with `Retry-After`
 * (clients and OTLP exporters retry those); a search cancelled by the time limit and text a
 * database cannot hold are the caller's to change (400); anything unforeseen is a 500.
 *
 * @example
 * const { status, body, retryAfterSeconds } = failureReply(error);
 */
export function failureReply(error: unknown): FailureReply {
  if (error instanceof ApiError) return { status: error.status, body: error.toBody() };
  if (error instanceof TraceNotFoundError || error instanceof AssessmentNotFoundError) {
    return { status: 404, body: { error_code: ErrorCode.RESOURCE_DOES_NOT_EXIST, message: error.message } };
  }
  switch (databaseFailure(error)) {
    case 'unavailable':
    case 'conflict':
      return {
        status: 503,
        body: { error_code: ErrorCode.TEMPORARILY_UNAVAILABLE, message: `The database is unavailable right now; nothing was stored. Retry in ${STORE_RETRY_AFTER_SECONDS} s.` },
        retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
      };
    case 'timeout': {
      const answer = searchTimeLimitError();
      return { status: answer.status, body: answer.toBody() };
    }
    case 'invalid-text':
      return { status: 400, body: { error_code: ErrorCode.INVALID_PARAMETER_VALUE, message: 'The request contains text the database cannot store (a NUL character, U+0000).' } };
    case undefined:
      break;
  }
  const fastifyError = error as FastifyError;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error_code: ErrorCode.BAD_REQUEST, message: `Request body is larger than the server's limit: ${fastifyError.message}` } };
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_VALIDATION':
      return { status: 400, body: { error_code: ErrorCode.INVALID_PARAMETER_VALUE, message: fastifyError.message } };
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return { status: fastifyError.statusCode, body: { error_code: ErrorCode.BAD_REQUEST, message: fastifyError.message } };
  }
  return { status: 500, body: { error_code: ErrorCode.INTERNAL_ERROR, message: 'Internal server error; the server log has the details.' } };
}
