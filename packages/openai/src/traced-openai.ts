import { isRecord, TRACED_RESOURCES } from './openai-parsing.js';
import { TracedCall, WrapperLog, type TracedOpenAIOptions } from './traced-call.js';

/**
 * The params of a streamed chat completion with `stream_options.include_usage` added, when the
 * app left it out and the options want usage; undefined when the call goes as the app made it.
 */
function streamUsageRequest(kind: string, params: unknown, options: TracedOpenAIOptions): Record<string, unknown> | undefined {
  const wanted = options.streamUsage ?? (options.provider ?? 'openai') === 'openai';
  if (!wanted || kind !== 'chat' || !isRecord(params) || params.stream !== true) return undefined;
  const streamOptions = isRecord(params.stream_options) ? params.stream_options : {};
  if ('include_usage' in streamOptions) return undefined;
  return { ...params, stream_options: { ...streamOptions, include_usage: true } };
}

/** An SDK resource (`client.chat`, `client.chat.completions`, ...): it holds the client as `_client`. */
function isResource(value: unknown): value is object {
  return typeof value === 'object' && value !== null && '_client' in value;
}

/**
 * Traces the official `openai` client: every `chat.completions.create`, `responses.create` and
 * `embeddings.create` becomes a span (a child of the active span, or a trace of its own), streaming
 * included; everything else passes through untouched. The client itself is not modified: the
 * result is a recursive `Proxy` over it, typed as the client.
 *
 * Recorded: inputs (the request params), outputs (the response, or for a stream the response it
 * assembles to), `mlflow.llm.model`, `mlflow.llm.provider`, `mlflow.message.format = "openai"`,
 * `mlflow.chat.tools`, `mlflow.chat.tokenUsage`. An API error is recorded on the span and reaches
 * the app as the same object. Without `init()` (or inside `tracingContext({ enabled: false })`)
 * calls go straight to the client.
 *
 * @example
 * import OpenAI from 'openai';
 * import { tracedOpenAI } from '@threadline/openai';
 *
 * const openai = tracedOpenAI(new OpenAI());
 * const completion = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Hi' }] });
 */
export function tracedOpenAI<T extends object>(client: T, options: TracedOpenAIOptions = {}): T {
  const log = new WrapperLog(options.logger);
  const proxies = new WeakMap<object, object>();
  // Per target: the functions handed out for its properties, so `traced.x.y === traced.x.y`.
  const methods = new WeakMap<object, Map<PropertyKey, { original: unknown; wrapped: unknown }>>();

  const traceCreate = (create: (...args: unknown[]) => unknown, kind: NonNullable<ReturnType<typeof TRACED_RESOURCES.get>>) =>
    function tracedCreate(this: unknown, ...args: unknown[]): unknown {
      const withUsage = streamUsageRequest(kind, args[0], options);
      const call = TracedCall.start(kind, args[0], options, log, withUsage !== undefined);
      if (call === undefined) return create.apply(this, args);
      let result: unknown;
      try {
        result = create.apply(this, withUsage === undefined ? args : [withUsage, ...args.slice(1)]);
      } catch (error) {
        call.fail(error);
        throw error;
      }
      return call.observe(result);
    };

  const methodOf = (target: object, prop: PropertyKey, value: (...args: unknown[]) => unknown, path: string): unknown => {
    const kind = TRACED_RESOURCES.get(path);
    // Methods of traced resources keep the proxy as `this`: the SDK's helpers on them
    // (`.parse()`, `.stream()`, `.runTools()`) call back through `this._client....create`, which is
    // then traced too. Every other function is bound to its real owner, whose private fields a proxy
    // `this` could not reach.
    if (kind !== undefined && prop !== 'create') return value;
    let cache = methods.get(target);
    if (cache === undefined) methods.set(target, (cache = new Map()));
    const cached = cache.get(prop);
    if (cached !== undefined && cached.original === value) return cached.wrapped;
    const wrapped = kind !== undefined ? traceCreate(value, kind) : value.bind(target);
    cache.set(prop, { original: value, wrapped });
    return wrapped;
  };

  const proxyOf = (target: object, path: string): object => {
    let proxy = proxies.get(target);
    if (proxy !== undefined) return proxy;
    proxy = new Proxy(target, {
      get(owner, prop) {
        // Getters run against the real object: a proxy receiver would break private fields.
        const value: unknown = Reflect.get(owner, prop, owner);
        if (value === client) return root;
        if (typeof value === 'function') return methodOf(owner, prop, value as (...args: unknown[]) => unknown, path);
        if (typeof prop === 'string' && isResource(value)) return proxyOf(value, path === '' ? prop : `${path}.${prop}`);
        return value;
      },
    });
    proxies.set(target, proxy);
    return proxy;
  };

  const root = proxyOf(client, '') as T;
  return root;
}
