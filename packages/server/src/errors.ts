import { ErrorCode, HTTP_STATUS_OF_ERROR_CODE, type ErrorBody } from '@threadline/protocol';

/**
 * The one error class of the server: an MLflow error code and a message a person can act on.
 * The HTTP layer maps it to `{"error_code", "message"}` with the code's status, in one place.
 *
 * @example
 * throw new ApiError(ErrorCode.RESOURCE_DOES_NOT_EXIST, `Trace 'tr-1' not found.`);
 */
export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly errorCode: ErrorCode,
    message: string,
    status?: number,
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status ?? HTTP_STATUS_OF_ERROR_CODE[errorCode];
  }

  toBody(): ErrorBody {
    return { error_code: this.errorCode, message: this.message };
  }
}

/** A 400 `INVALID_PARAMETER_VALUE`: the most common error, so it gets a short name. */
export function invalidParameter(message: string): ApiError {
  return new ApiError(ErrorCode.INVALID_PARAMETER_VALUE, message);
}

export function notFound(message: string): ApiError {
  return new ApiError(ErrorCode.RESOURCE_DOES_NOT_EXIST, message);
}
