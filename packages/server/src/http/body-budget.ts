import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode } from '@threadline/protocol';

/** Seconds a client is asked to wait when the server holds as many request bodies as it takes. */
export const BODY_BUDGET_RETRY_AFTER_SECONDS = 2;

/**
 * Caps the request body bytes the server holds at once. Each request reserves its declared
 * `Content-Length` (a chunked body, whose size is unknown, reserves the body limit) before its
 * body is read; one that does not fit while others hold the budget is answered 503 with
 * Retry-After at once, so a burst of large uploads queues at the clients instead of in memory
 * (six concurrent 60 MiB uploads peaked at 1.45 GB). A request alone is always admitted: the
 * body limit (413) bounds it.
 *
 * @example
 * limitConcurrentBodies(app, { maxBytes: 256 << 20, bodyLimitBytes: 64 << 20 });
 */
export function limitConcurrentBodies(app: FastifyInstance, options: { maxBytes: number; bodyLimitBytes: number }): void {
  let reserved = 0;
  const held = new WeakMap<FastifyRequest, number>();
  const release = (request: FastifyRequest) => {
    const bytes = held.get(request);
    if (bytes === undefined) return;
    held.delete(request);
    reserved -= bytes;
  };

  app.addHook('onRequest', async (request, reply) => {
    const bytes = declaredBodyBytes(request, options.bodyLimitBytes);
    if (bytes === 0) return;
    if (reserved > 0 && reserved + bytes > options.maxBytes) {
      return reply
        .status(503)
        .header('retry-after', String(BODY_BUDGET_RETRY_AFTER_SECONDS))
        .header('connection', 'close')
        .send({ error_code: ErrorCode.TEMPORARILY_UNAVAILABLE, message: `The server is receiving as many request bodies as it holds at once; retry in ${BODY_BUDGET_RETRY_AFTER_SECONDS} s.` });
    }
    reserved += bytes;
    held.set(request, bytes);
  });
  app.addHook('onResponse', async (request) => release(request));
  app.addHook('onRequestAbort', async (request) => release(request));
}

function declaredBodyBytes(request: FastifyRequest, bodyLimitBytes: number): number {
  const length = request.headers['content-length'];
  if (length !== undefined) {
    const n = Number(length);
    return Number.isFinite(n) && n > 0 ? Math.min(n, bodyLimitBytes) : 0;
  }
  return request.headers['transfer-encoding'] !== undefined ? bodyLimitBytes : 0;
}
