import { promisify } from 'node:util';
import { gunzip, inflate, inflateRaw, type InputType, type ZlibOptions } from 'node:zlib';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../errors.js';
import { failureReply } from './failures.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import { decodeOtlpJson, decodeOtlpProtobuf, OtlpDecodeError } from '../ingest/otlp/otlp-decode.js';
import { normaliseOtlpSpans } from '../ingest/otlp/otlp-normalise.js';
import { otlpProtoTypes } from '../ingest/otlp/otlp-proto.js';
import type { RouteContext } from './app.js';

export interface OtlpOptions {
  /**
   * Largest request body accepted, in bytes, checked after decompression (and before it, on
   * the compressed body): larger ones get 413 and are never inflated past the limit. Default
   * 64 MiB, the OTLP specification's recommendation.
   */
  maxBodyBytes?: number;
  /**
   * OTLP requests this process works on at once; beyond it a request is answered 503 with
   * `Retry-After` before its body is read, and OTLP exporters retry it later. Default 64.
   */
  maxConcurrentRequests?: number;
  /** Seconds sent in `Retry-After` with a 503. Default 1. */
  retryAfterSeconds?: number;
}

export const OTLP_TRACES_PATH = '/v1/traces';
export const EXPERIMENT_ID_HEADER = 'x-mlflow-experiment-id';
const DEFAULT_EXPERIMENT_ID = '0';
const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_CONCURRENT_REQUESTS = 64;

/** google.rpc.Code values used in failure bodies. */
const RpcCode = { INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, INTERNAL: 13, UNAVAILABLE: 14 } as const;

type Encoding = 'protobuf' | 'json';

/** A request answered with an HTTP status and a google.rpc.Status body. */
class OtlpHttpError extends Error {
  constructor(
    readonly status: number,
    readonly rpcCode: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'OtlpHttpError';
  }
}

const unzip = {
  gzip: promisify<InputType, ZlibOptions, Buffer>(gunzip),
  zlib: promisify<InputType, ZlibOptions, Buffer>(inflate),
  raw: promisify<InputType, ZlibOptions, Buffer>(inflateRaw),
};

/**
 * `POST /v1/traces`, OTLP/HTTP (otel-mapping.md §2): protobuf or JSON by `Content-Type` (others
 * 415), `Content-Encoding` gzip, deflate (zlib or raw) or none, experiment from header
 * `x-mlflow-experiment-id` (default `0`). Replies in the request's encoding: an empty
 * ExportTraceServiceResponse, `partial_success` when spans were rejected, or a google.rpc.Status
 * on failure (400 bad data, 413 too large, 415 unknown type, 503 overloaded, 500).
 *
 * Registered in a scope of its own: it reads raw bodies, while the rest of the app parses JSON.
 *
 * @example
 * await app.register(async (scope) => registerOtlpRoutes(scope, context, { maxBodyBytes: 8 << 20 }));
 */
export function registerOtlpRoutes(app: FastifyInstance, context: RouteContext, options: OtlpOptions = {}): void {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxConcurrent = options.maxConcurrentRequests ?? DEFAULT_MAX_CONCURRENT_REQUESTS;
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  let inFlight = 0;
  const counted = new WeakSet<FastifyRequest>();
  const release = (request: FastifyRequest) => {
    if (counted.delete(request)) inFlight--;
  };

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBodyBytes }, (_req, body, done) => done(null, body));

  app.setErrorHandler((error: FastifyError | OtlpHttpError, request, reply) => {
    const failure = error instanceof OtlpHttpError ? error : otlpFailure(error, maxBodyBytes);
    if (failure.status === 500) request.log.error({ err: error }, 'OTLP request failed');
    else if (failure.status >= 500) request.log.warn({ err: error }, 'OTLP request refused for now');
    if (failure.retryAfterSeconds !== undefined) void reply.header('retry-after', String(failure.retryAfterSeconds));
    return sendStatus(reply, encodingOf(request), failure);
  });

  app.post(OTLP_TRACES_PATH, {
    // Refused before the body is read, so an overloaded server spends nothing on it.
    onRequest: async (request, reply) => {
      if (inFlight >= maxConcurrent) {
        void reply.header('retry-after', retryAfter);
        return sendStatus(reply, encodingOf(request), new OtlpHttpError(503, RpcCode.UNAVAILABLE, `The server is busy with ${inFlight} OTLP requests; retry after ${retryAfter} s.`));
      }
      inFlight++;
      counted.add(request);
    },
    onResponse: async (request) => release(request),
    onRequestAbort: async (request) => release(request),
    handler: async (request, reply) => {
      const encoding = encodingOf(request);
      if (encoding === null) {
        throw new OtlpHttpError(415, RpcCode.INVALID_ARGUMENT, `Unsupported Content-Type ${JSON.stringify(request.headers['content-type'] ?? '')}: send application/x-protobuf or application/json.`);
      }
      const experimentId = await experimentOf(request, context);
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const body = await decompress(raw, request.headers['content-encoding'], maxBodyBytes);
      const spans = decode(body, encoding);
      const { traces, rejectedSpans, rejections } = normaliseOtlpSpans(spans);
      let rejected = rejectedSpans;
      const messages = [...rejections];
      const outcomes = await Promise.all(traces.map((t) => context.store.ingestSpans(experimentId, t.traceId, t.fields, t.spans)));
      outcomes.forEach((outcome, i) => {
        if (outcome.kind === 'experiment-conflict') {
          rejected += traces[i]!.spans.length;
          messages.push(`${traces[i]!.spans.length} span(s): trace ${traces[i]!.traceId} belongs to experiment ${outcome.experimentId}, not ${experimentId}`);
        } else if (outcome.rejectedSpanIds !== undefined) {
          // Spans are write-once: a resent span with other content than the stored one is left out.
          rejected += outcome.rejectedSpanIds.length;
          messages.push(`${outcome.rejectedSpanIds.length} span(s) of trace ${traces[i]!.traceId} differ from spans already stored with the same ids, which are kept`);
        }
      });
      return sendExportResponse(reply, encoding, rejected, messages.join('; '));
    },
  });
}

/**
 * protobuf or JSON by the media type of `Content-Type`, parameters (`; charset=...`) aside. An
 * exact match: `text/plain; x=application/json`, which a web page's form can send, is neither.
 */
function encodingOf(request: FastifyRequest): Encoding | null {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return null;
}

async function experimentOf(request: FastifyRequest, { experiments }: RouteContext): Promise<string> {
  const header = request.headers[EXPERIMENT_ID_HEADER];
  const raw = (Array.isArray(header) ? header[0] : header)?.trim() || DEFAULT_EXPERIMENT_ID;
  try {
    const experimentId = parseExperimentId(raw, `header ${EXPERIMENT_ID_HEADER}`);
    await experiments.requireActive(experimentId);
    return experimentId;
  } catch (error) {
    // OTLP clients read no 404; a 400 with the reason is not retried and shows in their logs.
    if (error instanceof ApiError) throw new OtlpHttpError(400, RpcCode.INVALID_ARGUMENT, `${error.message} Set header ${EXPERIMENT_ID_HEADER} to an active experiment's id.`);
    throw error;
  }
}

/**
 * Inflates a body with a cap on the output: zlib stops (ERR_BUFFER_TOO_LARGE) as soon as the
 * output passes `maxBytes`, so a zip bomb costs at most `maxBytes` of work and memory.
 */
async function decompress(body: Buffer, header: string | string[] | undefined, maxBytes: number): Promise<Buffer> {
  const encoding = (Array.isArray(header) ? header.join(',') : (header ?? '')).trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return body;
  let inflater: (typeof unzip)[keyof typeof unzip];
  if (encoding === 'gzip' || encoding === 'x-gzip') inflater = unzip.gzip;
  // "deflate" is zlib-wrapped by the HTTP specification, raw by some clients: the header tells.
  else if (encoding === 'deflate') inflater = isZlibHeader(body) ? unzip.zlib : unzip.raw;
  else throw new OtlpHttpError(415, RpcCode.INVALID_ARGUMENT, `Unsupported Content-Encoding ${JSON.stringify(encoding)}: send gzip, deflate or none.`);
  try {
    return await inflater(body, { maxOutputLength: maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(maxBytes, 'after decompression');
    throw new OtlpHttpError(400, RpcCode.INVALID_ARGUMENT, `The ${encoding} body cannot be decompressed: ${(error as Error).message}.`);
  }
}

function isZlibHeader(body: Buffer): boolean {
  return body.length >= 2 && (body[0]! & 0x0f) === 8 && ((body[0]! << 8) | body[1]!) % 31 === 0;
}

function decode(body: Buffer, encoding: Encoding) {
  try {
    return encoding === 'protobuf' ? decodeOtlpProtobuf(body) : decodeOtlpJson(body.length === 0 ? '{}' : body.toString('utf8'));
  } catch (error) {
    if (error instanceof OtlpDecodeError) throw new OtlpHttpError(400, RpcCode.INVALID_ARGUMENT, error.message);
    throw error;
  }
}

function tooLarge(maxBytes: number, when: string): OtlpHttpError {
  return new OtlpHttpError(413, RpcCode.RESOURCE_EXHAUSTED, `The request body is larger than the server's limit of ${maxBytes} bytes ${when}.`);
}

/**
 * Anything else a handler threw, as OTLP/HTTP answers it: the server's one failure mapping, with
 * the statuses OTLP exporters act on (413 before decompression; 503 with Retry-After, which they
 * retry; 400 and 500, which they do not).
 */
function otlpFailure(error: FastifyError, maxBytes: number): OtlpHttpError {
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return tooLarge(maxBytes, 'before decompression');
  const { status, body, retryAfterSeconds } = failureReply(error);
  const rpcCode = status === 503 ? RpcCode.UNAVAILABLE : status >= 500 ? RpcCode.INTERNAL : RpcCode.INVALID_ARGUMENT;
  return new OtlpHttpError(status, rpcCode, body.message, retryAfterSeconds);
}

/** Success: 0 bytes / `{}`, or `partial_success` with the rejected count and the reasons. */
function sendExportResponse(reply: FastifyReply, encoding: Encoding, rejectedSpans: number, errorMessage: string) {
  const partial = rejectedSpans > 0 ? { rejectedSpans, errorMessage } : undefined;
  if (encoding === 'json') {
    const body = partial ? { partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } } : {};
    return reply.status(200).type('application/json').send(JSON.stringify(body));
  }
  const { ExportTraceServiceResponse } = otlpProtoTypes();
  const bytes = ExportTraceServiceResponse.encode(partial ? { partialSuccess: partial } : {}).finish();
  return reply.status(200).type('application/x-protobuf').send(Buffer.from(bytes));
}

/** A failure as google.rpc.Status, protobuf for protobuf requests and JSON otherwise. */
function sendStatus(reply: FastifyReply, encoding: Encoding | null, failure: OtlpHttpError) {
  void reply.status(failure.status);
  if (encoding === 'protobuf') {
    const { Status } = otlpProtoTypes();
    return reply.type('application/x-protobuf').send(Buffer.from(Status.encode({ code: failure.rpcCode, message: failure.message }).finish()));
  }
  return reply.type('application/json').send(JSON.stringify({ code: failure.rpcCode, message: failure.message }));
}
