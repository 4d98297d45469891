import { context, trace as otelTrace, type Attributes, type Context } from '@opentelemetry/api';
import type { Span as SdkSpan } from '@opentelemetry/sdk-trace-base';
import { SpanAttributeKey, SpanType, TraceMetadataKey } from '@threadline/protocol';
import { DEFAULT_SPAN_NAME, OtelAttributeKey } from './constants.js';
import { parameterSlots, type ParamSlot } from './function-params.js';
import { JsonSnapshot, jsonTextOf } from './json-text.js';
import { LiveSpanImpl, nanosToHrTime, NoOpSpan, type LiveSpan } from './live-span.js';
import { OnceLog, usageWarnings } from './logger.js';
import { activeTracer, getSpanProcessor } from './runtime.js';
import { maskedByName } from './secret-masking.js';
import { recordOf, sideDataOf } from './trace-record.js';
import { tracingContextOf } from './tracing-context.js';

/** Options of `trace`. */
export interface TraceOptions {
  /** Span name. Default: the function's name, else `"span"`. */
  name?: string;
  /** Default `SpanType.UNKNOWN`. */
  spanType?: SpanType | string;
  /** Attributes set on every span of the function. */
  attributes?: Record<string, unknown>;
}

/** Options of `withSpan` and `startSpan`. */
export interface SpanOptions {
  name?: string;
  spanType?: SpanType | string;
  inputs?: unknown;
  attributes?: Record<string, unknown>;
  /** Start time in nanoseconds since the epoch; now when omitted. */
  startTimeNs?: number | bigint;
  /** `startSpan` only: the parent; default the active span. */
  parent?: LiveSpan;
}

const failures = new OnceLog();

/** Splits attributes into OTel-storable primitives (set at span start) and the rest. */
function splitAttributes(spanType: string | undefined, attributes: Record<string, unknown> | undefined): { primitive: Attributes; other: Record<string, unknown> | undefined } {
  const primitive: Attributes = { [SpanAttributeKey.SPAN_TYPE]: spanType ?? SpanType.UNKNOWN };
  let other: Record<string, unknown> | undefined;
  for (const key in attributes) {
    const value = attributes[key];
    if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) primitive[key] = maskedByName(key, value);
    else if (value !== undefined) (other ??= {})[key] = value;
  }
  return { primitive, other };
}

/** Starts a LiveSpan, or returns undefined when tracing is off here (not initialised, or disabled by tracingContext). */
function startLiveSpan(name: string, attributes: Attributes, parent: Context, startTimeNs?: number | bigint): LiveSpanImpl | undefined {
  const tracer = activeTracer();
  if (tracer === undefined) return undefined;
  const values = tracingContextOf(parent);
  if (values !== undefined && !values.enabled) return undefined;
  try {
    const otelSpan = tracer.startSpan(name, startTimeNs === undefined ? { attributes } : { attributes, startTime: nanosToHrTime(startTimeNs) }, parent);
    return new LiveSpanImpl(otelSpan as SdkSpan);
  } catch (error) {
    failures.log('start-span', 'error', 'Threadline could not start a span; the call runs untraced.', error);
    return undefined;
  }
}

/** Ends a span with `result` as its outputs unless outputs were set explicitly. */
function finishSpan(span: LiveSpanImpl, result: unknown): void {
  try {
    if (!span.hasOutputs && result !== undefined) span.setOutputs(result);
    span.end();
  } catch (error) {
    failures.log('end-span', 'error', 'Threadline could not end a span.', error);
  }
}

/** Ends a span as failed by `error`: status ERROR with its message and an `exception` event. */
function failSpan(span: LiveSpanImpl, error: unknown): void {
  try {
    span.setStatus('ERROR', error instanceof Error ? error.message : String(error));
    span.recordException(error);
    span.end();
  } catch (failure) {
    failures.log('end-span', 'error', 'Threadline could not end a span.', failure);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Settles a span when `result` settles. A native Promise is chained and the chain returned, so an
 * unhandled rejection stays unhandled, as without tracing. Any other thenable (a Promise subclass
 * such as an SDK's `APIPromise` with extra methods, a lazy query builder) is returned as is and only
 * observed, so its own API stays intact.
 */
function settleWhenDone<T>(result: T & PromiseLike<unknown>, span: LiveSpanImpl): T {
  if ((result as object).constructor === Promise) {
    return (result as unknown as Promise<unknown>).then(
      (value) => {
        finishSpan(span, value);
        return value;
      },
      (error: unknown) => {
        failSpan(span, error);
        throw error;
      },
    ) as T;
  }
  result.then(
    (value) => finishSpan(span, value),
    (error: unknown) => failSpan(span, error),
  );
  return result;
}

type AnyIterator = Iterator<unknown> | AsyncIterator<unknown>;

/**
 * A generator's span lasts until the generator is exhausted, returns early (`break` out of a loop)
 * or throws. Each step runs with the span active, so spans started while producing an item nest
 * under it. The outputs are the yielded items.
 */
function wrapGenerator<T>(generator: T & AnyIterator, span: LiveSpanImpl, spanContext: Context, isAsync: boolean): T {
  // Each item is recorded as it is yielded: the consumer may change it afterwards.
  const items: string[] = [];
  let open = true;
  const close = (failed: boolean, error?: unknown) => {
    if (!open) return;
    open = false;
    if (failed) return failSpan(span, error);
    if (!span.hasOutputs) span.setRecordedOutputs(new JsonSnapshot(`[${items.join(',')}]`));
    finishSpan(span, undefined);
  };
  const after = (step: IteratorResult<unknown>) => {
    if (step.done) close(false);
    else if (open) items.push(step.value === undefined ? 'null' : jsonTextOf(step.value));
    return step;
  };
  const invoke = (method: 'next' | 'throw' | 'return', arg: unknown): unknown => {
    const fn = (generator as unknown as Record<string, ((v: unknown) => unknown) | undefined>)[method];
    if (fn === undefined) {
      // An iterator without return/throw: behave as the language does for a finished iterator.
      if (method === 'throw') throw arg;
      return { done: true, value: arg };
    }
    return context.with(spanContext, () => fn.call(generator, arg));
  };
  const step = (method: 'next' | 'throw' | 'return') =>
    isAsync
      ? async (arg?: unknown) => {
          try {
            return after((await invoke(method, arg)) as IteratorResult<unknown>);
          } catch (error) {
            close(true, error);
            throw error;
          }
        }
      : (arg?: unknown) => {
          try {
            return after(invoke(method, arg) as IteratorResult<unknown>);
          } catch (error) {
            close(true, error);
            throw error;
          }
        };
  const wrapped: Record<string | symbol, unknown> = Object.create(Object.getPrototypeOf(generator) as object) as Record<string | symbol, unknown>;
  wrapped.next = step('next');
  wrapped.throw = step('throw');
  wrapped.return = step('return');
  wrapped[isAsync ? Symbol.asyncIterator : Symbol.iterator] = function (this: unknown) {
    return this;
  };
  return wrapped as T;
}

/** Runs `fn` with `span` active and settles the span with its outcome (value, promise, generator or throw). */
function runInSpan<R>(span: LiveSpanImpl, parent: Context, fn: (...args: never[]) => R, thisArg: unknown, args: unknown[]): R {
  const spanContext = otelTrace.setSpan(parent, span.otelSpan);
  let result: R;
  try {
    result = context.with(spanContext, fn as (...a: unknown[]) => R, thisArg, ...args);
  } catch (error) {
    failSpan(span, error);
    throw error;
  }
  if (typeof result === 'object' && result !== null) {
    const tag = (result as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag];
    if (tag === 'Generator') return wrapGenerator(result as R & Iterator<unknown>, span, spanContext, false);
    if (tag === 'AsyncGenerator') return wrapGenerator(result as R & AsyncIterator<unknown>, span, spanContext, true);
  }
  if (isThenable(result)) return settleWhenDone(result, span);
  finishSpan(span, result);
  return result;
}

/** Wraps a function so each call is a span. */
function traceFunction<F extends (...args: never[]) => unknown>(fn: F, options: TraceOptions | undefined, fallbackName?: string): F {
  const name = options?.name || fn.name || fallbackName || DEFAULT_SPAN_NAME;
  const { primitive, other } = splitAttributes(options?.spanType, options?.attributes);
  // The parameter list is read from the source at the first traced call, then reused.
  let slots: ParamSlot[] | undefined | null = null;
  const wrapper = function (this: unknown, ...args: unknown[]): unknown {
    const parent = context.active();
    const span = startLiveSpan(name, primitive, parent);
    if (span === undefined) return (fn as unknown as (...a: unknown[]) => unknown).apply(this, args);
    if (slots === null) slots = parameterSlots(fn);
    span.setArguments(slots, args);
    if (other !== undefined) span.setAttributes(other);
    return runInSpan(span, parent, fn, this, args);
  };
  Object.defineProperty(wrapper, 'name', { value: fn.name });
  Object.defineProperty(wrapper, 'length', { value: fn.length });
  for (const key of Object.keys(fn)) (wrapper as unknown as Record<string, unknown>)[key] = (fn as unknown as Record<string, unknown>)[key];
  return wrapper as unknown as F;
}

/**
 * Traces a function: every call is a span named after the function, with its arguments named by
 * parameter as inputs, its return value as outputs, its latency, and any exception (recorded, then
 * rethrown unchanged). Works for sync, async and (async) generator functions; without `init()` or
 * inside `tracingContext({ enabled: false })` the function runs untouched. Also a method decorator:
 * `@trace({ spanType: SpanType.LLM })`.
 *
 * @example
 * const chat = trace(async (message: string, userId: string) => llm.reply(message), { spanType: SpanType.CHAIN });
 * await chat('Hello', 'user-123'); // inputs {message:'Hello', userId:'user-123'}
 */
export function trace<F extends (...args: never[]) => unknown>(fn: F, options?: TraceOptions): F;
export function trace(options?: TraceOptions): (...decoratorArgs: unknown[]) => any;
export function trace(fnOrOptions?: unknown, options?: TraceOptions): unknown {
  if (typeof fnOrOptions === 'function') return traceFunction(fnOrOptions as (...args: never[]) => unknown, options);
  const decoratorOptions = fnOrOptions as TraceOptions | undefined;
  return function decorate(...decoratorArgs: unknown[]): unknown {
    const [first, second, third] = decoratorArgs;
    // TC39 decorators: (method, context); legacy TypeScript decorators: (target, key, descriptor).
    if (typeof first === 'function' && typeof second === 'object' && second !== null && third === undefined) {
      return traceFunction(first as (...args: never[]) => unknown, decoratorOptions, String((second as { name?: unknown }).name ?? ''));
    }
    const descriptor = third as PropertyDescriptor;
    descriptor.value = traceFunction(descriptor.value as (...args: never[]) => unknown, decoratorOptions, String(second));
    return descriptor;
  };
}

/**
 * Runs `callback` inside a new span that is active (spans started inside become its children),
 * ends it when the callback returns or its promise settles, records an exception and rethrows it
 * unchanged. The return value becomes the outputs unless the callback set them.
 *
 * @example
 * const answer = await withSpan(async (span) => {
 *   span.setInputs({ question });
 *   return await llm.ask(question);
 * }, { name: 'ask', spanType: SpanType.LLM });
 */
export function withSpan<T>(callback: (span: LiveSpan) => T, options?: SpanOptions): T {
  const parent = context.active();
  const { primitive, other } = splitAttributes(options?.spanType, options?.attributes);
  const span = startLiveSpan(options?.name || DEFAULT_SPAN_NAME, primitive, parent, options?.startTimeNs);
  if (span === undefined) return callback(new NoOpSpan());
  if (options?.inputs !== undefined) span.setInputs(options.inputs);
  if (other !== undefined) span.setAttributes(other);
  return runInSpan(span, parent, callback as (...args: never[]) => T, undefined, [span]);
}

/**
 * Starts a span that is NOT made active: spans started meanwhile do not nest under it unless they
 * name it as `parent`. End it with `span.end()`.
 *
 * @example
 * const span = startSpan({ name: 'retrieve', spanType: SpanType.RETRIEVER, inputs: { query } });
 * span.end({ outputs: documents });
 */
export function startSpan(options: SpanOptions): LiveSpan {
  let parent = context.active();
  if (options.parent instanceof LiveSpanImpl) parent = otelTrace.setSpan(parent, options.parent.otelSpan);
  const { primitive, other } = splitAttributes(options.spanType, options.attributes);
  const span = startLiveSpan(options.name || DEFAULT_SPAN_NAME, primitive, parent, options.startTimeNs);
  if (span === undefined) return new NoOpSpan();
  if (options.inputs !== undefined) span.setInputs(options.inputs);
  if (other !== undefined) span.setAttributes(other);
  return span;
}

/**
 * The active span, if `trace` or `withSpan` created it (spans of other instrumentations, and
 * `startSpan` spans, which are never active, give null).
 */
export function getCurrentActiveSpan(): LiveSpan | null {
  const span = otelTrace.getActiveSpan();
  const side = span === undefined ? undefined : sideDataOf(span);
  return side instanceof LiveSpanImpl ? side : null;
}

/** `tr-` id of the trace that finished last (set when its root span ends, before it is exported). */
export function getLastActiveTraceId(): string | undefined {
  return getSpanProcessor().lastActiveTraceId;
}

/** Options of `updateCurrentTrace`. */
export interface UpdateCurrentTraceOptions {
  /** Trace tags (editable later through the client). */
  tags?: Record<string, string>;
  /** Trace metadata: frozen when the trace ends. */
  metadata?: Record<string, string>;
  /** End user: metadata `mlflow.trace.user`. */
  user?: string;
  /** Conversation: metadata `mlflow.trace.session`. */
  sessionId?: string;
  clientRequestId?: string;
  /** Overrides the request preview derived from the root span's inputs. */
  requestPreview?: string;
  /** Overrides the response preview derived from the root span's outputs. */
  responsePreview?: string;
}

function stringEntries(kind: string, values: Record<string, unknown> | undefined): Record<string, string> | undefined {
  if (values === undefined || values === null) return undefined;
  const strings: Record<string, string> = {};
  for (const key in values) {
    const value = values[key];
    if (value === undefined) continue;
    if (typeof value === 'string') strings[key] = value;
    else usageWarnings.log(`non-string-${kind}`, 'warn', `updateCurrentTrace(): ${kind} values must be strings; "${key}" is ignored.`);
  }
  return strings;
}

/**
 * Sets metadata, tags, user, session, client request id or previews of the trace the caller is in.
 * Outside a trace, or once the trace has ended (metadata is frozen then), it changes nothing and
 * logs one warning. Never throws.
 *
 * @example
 * const chat = trace((message: string, userId: string, sessionId: string) => {
 *   updateCurrentTrace({ user: userId, sessionId, metadata: { 'app.version': '1.2' } });
 *   return generateResponse(message);
 * });
 */
export function updateCurrentTrace(options: UpdateCurrentTraceOptions): void {
  const span = otelTrace.getActiveSpan();
  const record = span === undefined ? undefined : recordOf(span);
  if (record === undefined) {
    usageWarnings.log('update-outside-trace', 'warn', 'updateCurrentTrace() was called outside a trace (no active span from trace() or withSpan()); it is ignored.');
    return;
  }
  if (record.frozen) {
    usageWarnings.log(
      'update-ended-trace',
      'warn',
      `updateCurrentTrace() was called after trace ${record.traceId} ended: its metadata was frozen then, so the update is ignored. Tags can still change through ThreadlineClient.setTraceTag().`,
    );
    return;
  }
  const metadata = stringEntries('metadata', options.metadata);
  if (metadata !== undefined) record.metadata = { ...record.metadata, ...metadata };
  const tags = stringEntries('tag', options.tags);
  if (tags !== undefined) record.tags = { ...record.tags, ...tags };
  const identity = stringEntries('identity', { user: options.user, sessionId: options.sessionId });
  if (options.user !== undefined && identity?.user !== undefined) {
    record.metadata = { ...record.metadata, [TraceMetadataKey.USER]: identity.user };
    record.root.setAttribute(OtelAttributeKey.USER_ID, identity.user);
  }
  if (options.sessionId !== undefined && identity?.sessionId !== undefined) {
    record.metadata = { ...record.metadata, [TraceMetadataKey.SESSION]: identity.sessionId };
    record.root.setAttribute(OtelAttributeKey.SESSION_ID, identity.sessionId);
  }
  const scalars = stringEntries('preview', { clientRequestId: options.clientRequestId, requestPreview: options.requestPreview, responsePreview: options.responsePreview });
  if (options.clientRequestId !== undefined && scalars?.clientRequestId !== undefined) record.clientRequestId = scalars.clientRequestId;
  if (options.requestPreview !== undefined && scalars?.requestPreview !== undefined) record.requestPreview = scalars.requestPreview;
  if (options.responsePreview !== undefined && scalars?.responsePreview !== undefined) record.responsePreview = scalars.responsePreview;
}
