import { context, propagation, trace, type Context } from '@opentelemetry/api';
import { withTracingContextValues, type TracingContextOptions } from '../tracing-context.js';

/**
 * Options of the request middleware: which headers carry the user and the session. All optional.
 */
export interface SessionMiddlewareOptions {
  /** Header with the end user's id. Default `X-User-ID`. */
  userHeader?: string;
  /** Header with the conversation's id. Default `X-Session-ID`. */
  sessionHeader?: string;
  /** User when the header is absent. Default: none (the trace has no user). */
  defaultUser?: string;
  /** Session when the header is absent. Default: none. */
  defaultSession?: string;
  /** Metadata added to every trace of the request (e.g. `{ 'app.version': '1.2' }`). */
  metadata?: Record<string, string>;
  /** Tags added to every trace of the request. */
  tags?: Record<string, string>;
  /**
   * Continue the caller's trace: a W3C `traceparent` header (read with the global propagator that
   * `init()` registers) makes the request's traces carry the caller's trace id, their root a child
   * of the caller's span. Ignored when a span is already active (an OpenTelemetry HTTP
   * instrumentation extracted it). Default true.
   */
  traceContext?: boolean;
}

type HeaderValue = string | string[] | undefined;

/** Reads a header from Node's lower-cased header map. */
function firstHeader(headers: Record<string, HeaderValue> | undefined, name: string): string | undefined {
  const value = headers?.[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

/** Resolves the tracing context of one request from a header getter. */
function contextFor(options: SessionMiddlewareOptions, header: (lowerCaseName: string) => string | undefined): TracingContextOptions {
  const user = header((options.userHeader ?? 'X-User-ID').toLowerCase()) ?? options.defaultUser;
  const sessionId = header((options.sessionHeader ?? 'X-Session-ID').toLowerCase()) ?? options.defaultSession;
  return {
    ...(user !== undefined && { user }),
    ...(sessionId !== undefined && { sessionId }),
    ...(options.metadata !== undefined && { metadata: options.metadata }),
    ...(options.tags !== undefined && { tags: options.tags }),
  };
}

/**
 * The context a request's handler runs in: the caller's trace (W3C `traceparent`) when there is one
 * and no span is active yet, with the request's user, session, metadata and tags.
 */
function requestContext(options: SessionMiddlewareOptions, header: (lowerCaseName: string) => string | undefined): Context {
  let ctx = context.active();
  if (options.traceContext !== false && trace.getSpan(ctx) === undefined) {
    ctx = propagation.extract(ctx, undefined, { get: (_carrier, key) => header(key.toLowerCase()), keys: () => [] });
  }
  return withTracingContextValues(ctx, contextFor(options, header));
}

/** What the Express (and Connect, and plain `http`) middleware needs of a request. */
export interface NodeRequestLike {
  headers: Record<string, HeaderValue>;
}

/**
 * Express / Connect middleware: every trace started while handling the request (in the route
 * handler and everything it awaits) carries the request's user and session as metadata
 * `mlflow.trace.user` / `mlflow.trace.session`, with no code in the handlers; with a W3C
 * `traceparent` header, it continues the caller's trace id.
 *
 * @example
 * const app = express();
 * app.use(threadlineSessions({ userHeader: 'X-User-ID', sessionHeader: 'X-Session-ID' }));
 */
export function threadlineSessions(options: SessionMiddlewareOptions = {}): (req: NodeRequestLike, res: unknown, next: (error?: unknown) => void) => void {
  return (req, _res, next) => {
    // The rest of the chain, and the handler, run inside the scope.
    context.with(
      requestContext(options, (name) => firstHeader(req.headers, name)),
      next,
    );
  };
}

/** What the Fastify plugin needs of a Fastify instance. */
export interface FastifyLike {
  addHook(name: 'preHandler', hook: (request: NodeRequestLike, reply: unknown, done: (error?: Error) => void) => void): unknown;
}

/**
 * Fastify plugin doing what `threadlineSessions` does for Express, for all routes of the instance
 * it is registered on (it is not encapsulated). It enters the scope in `preHandler`, after body
 * parsing, whose stream events would otherwise lose it.
 *
 * @example
 * const app = Fastify();
 * await app.register(threadlineSessionsFastify({ defaultUser: 'anonymous' }));
 */
export function threadlineSessionsFastify(options: SessionMiddlewareOptions = {}): (instance: FastifyLike, pluginOptions: unknown, done: (error?: Error) => void) => void {
  const plugin = (instance: FastifyLike, _pluginOptions: unknown, done: (error?: Error) => void) => {
    instance.addHook('preHandler', (request, _reply, next) => {
      context.with(requestContext(options, (name) => firstHeader(request.headers, name)), () => next());
    });
    done();
  };
  // What fastify-plugin does: apply the hook to the parent instance, not just inside the plugin.
  Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'threadline-sessions' });
  return plugin;
}

/** What the Hono middleware needs of a Hono context. */
export interface HonoContextLike {
  req: { header(name: string): string | undefined };
}

/**
 * Hono middleware doing what `threadlineSessions` does for Express.
 *
 * @example
 * const app = new Hono();
 * app.use('*', threadlineSessionsHono());
 */
export function threadlineSessionsHono(options: SessionMiddlewareOptions = {}): (c: HonoContextLike, next: () => Promise<void>) => Promise<void> {
  return (c, next) => {
    const ctx = requestContext(options, (name) => {
      const value = c.req.header(name);
      return value === '' ? undefined : value;
    });
    return context.with(ctx, next);
  };
}
