import { context, createContextKey, propagation, type Context } from '@opentelemetry/api';

/** Options of `tracingContext`: what every trace started inside the scope carries. */
export interface TracingContextOptions {
  /** End user of the traces: metadata `mlflow.trace.user`. */
  user?: string;
  /** Conversation the traces belong to: metadata `mlflow.trace.session`. */
  sessionId?: string;
  /** Trace metadata (immutable once the trace is logged). */
  metadata?: Record<string, string>;
  /** Trace tags (editable later through the client). */
  tags?: Record<string, string>;
  /** `false` records nothing inside the scope: traced functions run as if untraced. Default `true`. */
  enabled?: boolean;
}

/** The merged values of all enclosing `tracingContext` scopes. Never mutated once created. */
export interface TracingContextValues {
  readonly user: string | undefined;
  readonly sessionId: string | undefined;
  readonly metadata: Readonly<Record<string, string>> | undefined;
  readonly tags: Readonly<Record<string, string>> | undefined;
  readonly enabled: boolean;
}

const TRACING_CONTEXT_KEY = createContextKey('threadline.tracing-context');

/** The tracing-context values active in an OpenTelemetry context, if any scope set them. */
export function tracingContextOf(ctx: Context): TracingContextValues | undefined {
  return ctx.getValue(TRACING_CONTEXT_KEY) as TracingContextValues | undefined;
}

/** `ctx` with `options` merged over the values already in it (inner scopes win key by key). */
export function withTracingContextValues(ctx: Context, options: TracingContextOptions): Context {
  const outer = tracingContextOf(ctx);
  const merged: TracingContextValues = {
    user: options.user ?? outer?.user,
    sessionId: options.sessionId ?? outer?.sessionId,
    metadata: options.metadata ? { ...outer?.metadata, ...options.metadata } : outer?.metadata,
    tags: options.tags ? { ...outer?.tags, ...options.tags } : outer?.tags,
    enabled: options.enabled ?? outer?.enabled ?? true,
  };
  return ctx.setValue(TRACING_CONTEXT_KEY, merged);
}

/**
 * Runs `fn` in a scope whose root spans take the given user, session, metadata and tags; with
 * `enabled: false`, nothing inside is traced. Scopes nest (inner values win) and follow the code
 * through `await`, promises, timers and event emitters (AsyncLocalStorage). Returns what `fn`
 * returns, unchanged.
 *
 * @example
 * app.post('/chat', (req, res) =>
 *   tracingContext({ user: req.get('X-User-ID'), sessionId: req.get('X-Session-ID') }, async () => {
 *     res.json({ response: await processChat(req.body.message) });
 *   }));
 */
export function tracingContext<T>(options: TracingContextOptions, fn: () => T): T {
  return context.with(withTracingContextValues(context.active(), options), fn);
}

/**
 * Headers that carry the active trace to another service (W3C `traceparent` / `tracestate`, with
 * the global propagator `init()` registers), added to `headers`. The other service's
 * `threadlineSessions` middleware (or any OpenTelemetry server) continues the trace.
 *
 * @example
 * const ask = trace(async (question: string) => {
 *   const reply = await fetch('http://retriever/search', { method: 'POST', headers: traceContextHeaders({ 'Content-Type': 'application/json' }), body: JSON.stringify({ question }) });
 *   return reply.json();
 * });
 */
export function traceContextHeaders(headers: Record<string, string> = {}): Record<string, string> {
  propagation.inject(context.active(), headers);
  return headers;
}
