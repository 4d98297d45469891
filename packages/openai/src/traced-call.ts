import { consoleLogger, NO_OP_SPAN_TRACE_ID, startSpan, type LiveSpan, type Logger } from '@threadline/tracing';
import { ENDPOINTS, isRecord, recordedOutputs, requestAttributes, responseAttributes, responseFailure, type EndpointKind } from './openai-parsing.js';
import { streamAssembler, type StreamAssembler } from './stream-assembly.js';

/** Options of `tracedOpenAI`. All optional. */
export interface TracedOpenAIOptions {
  /** `mlflow.llm.provider` of every span. Default `"openai"`. */
  provider?: string;
  /** Attributes added to every span (e.g. `{ 'app.feature': 'support-chat' }`). */
  attributes?: Record<string, unknown>;
  /**
   * Ask for the token usage of streamed chat completions (`stream_options.include_usage`) when the
   * app did not, so that a streamed call's tokens and cost are recorded; the extra usage chunk is
   * kept from the app, which reads the same stream it asked for. Default: on for the `openai`
   * provider, off for others (an OpenAI-compatible server may not accept the option).
   */
  streamUsage?: boolean;
  /**
   * Where the wrapper reports its own failures (never the API's: those are the app's to handle),
   * once per kind. Default: the SDK's console logger.
   */
  logger?: Logger;
}

/** Reports each kind of failure of the wrapper once; a logger that throws is ignored. */
export class WrapperLog {
  private readonly seen = new Set<string>();
  constructor(private readonly logger: Logger = consoleLogger) {}

  report(kind: string, message: string, detail: unknown): void {
    if (this.seen.has(kind)) return;
    this.seen.add(kind);
    try {
      this.logger.error(message, detail);
    } catch {
      // A failing logger must not become a failing application.
    }
  }
}

/** What an OpenAI SDK `APIPromise` offers beyond a promise (6.x; declared private in its types). */
interface ApiPromiseLike extends PromiseLike<unknown> {
  _thenUnwrap(transform: (data: unknown, props: unknown) => unknown): ApiPromiseLike;
  parse(): Promise<unknown>;
  asResponse(): Promise<unknown>;
  parsedPromise?: Promise<unknown>;
}

function isApiPromise(value: unknown): value is ApiPromiseLike {
  const v = value as Partial<ApiPromiseLike> | null;
  return typeof v === 'object' && v !== null && typeof v.then === 'function' && typeof v._thenUnwrap === 'function' && typeof v.parse === 'function' && typeof v.asResponse === 'function';
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** The SDK's `Stream`: an async iterable whose items come from `iterator()`, stopped by `controller`. */
interface StreamLike {
  iterator: () => AsyncIterator<unknown>;
  controller?: { signal?: AbortSignal };
}

function isStream(value: unknown): value is StreamLike {
  return typeof value === 'object' && value !== null && typeof (value as { iterator?: unknown }).iterator === 'function' && Symbol.asyncIterator in value;
}

/**
 * One traced API call: its span, ended exactly once, by the first of: the response parsed, the
 * stream consumed, broken out of or aborted, an error (recorded, never swallowed), or the raw
 * `Response` handed to the app unparsed (`.asResponse()`).
 */
export class TracedCall {
  private open = true;

  private constructor(
    private readonly span: LiveSpan,
    private readonly kind: EndpointKind,
    private readonly log: WrapperLog,
    /** The usage chunk was asked for by the wrapper, not the app: it is recorded, not delivered. */
    private readonly hiddenUsage: boolean,
  ) {}

  /** Starts the span of a call; undefined when tracing is off here (the call then runs untouched). */
  static start(kind: EndpointKind, params: unknown, options: TracedOpenAIOptions, log: WrapperLog, hiddenUsage = false): TracedCall | undefined {
    try {
      const spec = ENDPOINTS[kind];
      const span = startSpan({
        name: spec.name,
        spanType: spec.spanType,
        inputs: params,
        attributes: { ...requestAttributes(kind, params, options.provider ?? 'openai'), ...options.attributes },
      });
      return span.traceId === NO_OP_SPAN_TRACE_ID ? undefined : new TracedCall(span, kind, log, hiddenUsage);
    } catch (error) {
      log.report('start', 'tracedOpenAI could not start a span; the call runs untraced.', error);
      return undefined;
    }
  }

  /**
   * Observes what the SDK method returned and gives the app the same thing: an `APIPromise` stays
   * an `APIPromise` (`.withResponse()`, `.asResponse()` and the SDK's own helpers keep working), and
   * a `Stream` stays the same `Stream` object, its items observed as the app reads them.
   */
  observe<R>(result: R): R {
    if (isApiPromise(result)) return this.instrument(result._thenUnwrap((data) => this.receive(data))) as R;
    if (isThenable(result)) {
      // Not the OpenAI SDK's promise (another version, a test double): observe it as a plain promise.
      return Promise.resolve(result).then(
        (data) => this.receive(data),
        (error: unknown) => {
          this.fail(error);
          throw error;
        },
      ) as R;
    }
    return this.receive(result) as R;
  }

  /** Ends the span as failed by `error` (the app gets the error itself); `partial`: what a stream had delivered. */
  fail(error: unknown, partial?: unknown): void {
    if (!this.close()) return;
    try {
      if (partial !== undefined) this.span.setOutputs(recordedOutputs(this.kind, partial));
      this.span.setStatus('ERROR', error instanceof Error ? error.message : String(error));
      this.span.recordException(error);
      this.span.end();
    } catch (failure) {
      this.log.report('end', 'tracedOpenAI could not end a span.', failure);
    }
  }

  /** Marks the span closed; false if it already was. */
  private close(): boolean {
    if (!this.open) return false;
    this.open = false;
    return true;
  }

  private finish(response: unknown, incomplete?: { reason: string; items: number }): void {
    if (!this.close()) return;
    try {
      if (incomplete !== undefined) this.span.addEvent({ name: 'stream.incomplete', attributes: incomplete });
      const failure = responseFailure(response);
      if (failure !== undefined) this.span.setStatus('ERROR', failure);
      this.span.end({ outputs: recordedOutputs(this.kind, response), attributes: responseAttributes(response) });
    } catch (error) {
      this.log.report('end', 'tracedOpenAI could not end a span.', error);
    }
  }

  /** The parsed response: a stream is observed, anything else ends the span. Returns it unchanged. */
  private receive(data: unknown): unknown {
    const assembler = isStream(data) ? streamAssembler(this.kind) : undefined;
    if (assembler !== undefined) this.observeStream(data as StreamLike, assembler);
    else this.finish(data);
    return data;
  }

  /**
   * Overrides, on this one promise object, the three methods through which its outcome is read, so
   * that a failure is recorded whichever the app uses, and a promise derived by the SDK's own
   * helpers (`.parse()` of structured outputs) is instrumented too.
   */
  private instrument(promise: ApiPromiseLike): ApiPromiseLike {
    const proto = Object.getPrototypeOf(promise) as ApiPromiseLike;
    const call = this;
    promise.parse = function (this: ApiPromiseLike) {
      const parsed = proto.parse.call(this);
      parsed.then(undefined, (error: unknown) => call.fail(error));
      return parsed;
    };
    promise.asResponse = function (this: ApiPromiseLike) {
      // `.withResponse()` parses first, then asks for the response: only a bare `.asResponse()`
      // leaves the body to the app, unread by the SDK and so by the trace.
      const unparsed = !this.parsedPromise;
      const response = proto.asResponse.call(this);
      if (unparsed) response.then(() => call.finish(undefined), (error: unknown) => call.fail(error));
      return response;
    };
    promise._thenUnwrap = function (this: ApiPromiseLike, transform) {
      return call.instrument(proto._thenUnwrap.call(this, transform));
    };
    return promise;
  }

  /**
   * Replaces the stream's iterator factory (a property of the `Stream` object the SDK made for this
   * call alone) by one that passes every item through unchanged and folds it into the outputs. The
   * span ends when the stream is exhausted, when the app breaks out of its loop (`return()`), when
   * its controller aborts, or with the error the iteration throws.
   */
  private observeStream(stream: StreamLike, assembler: StreamAssembler): void {
    const signal = stream.controller?.signal;
    // Reads in flight. An abort during a read is settled by that read: the SDK ends the iteration
    // quietly on the app's abort, and aborts its own controller before rethrowing a stream error.
    let reading = 0;
    const onAbort = () => {
      if (reading === 0) this.finish(assembler.result(), { reason: 'abort', items: assembler.count });
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const end = (how: 'done' | 'break' | 'abort' | 'error', error?: unknown) => {
      signal?.removeEventListener('abort', onAbort);
      if (how === 'error') this.fail(error, assembler.result());
      else this.finish(assembler.result(), how === 'done' ? undefined : { reason: how, items: assembler.count });
    };
    const original = stream.iterator;
    const hiddenUsage = this.hiddenUsage;
    stream.iterator = function (this: unknown) {
      const inner = original.call(this);
      const step = async (method: 'next' | 'return' | 'throw', arg?: unknown): Promise<IteratorResult<unknown>> => {
        const fn = inner[method];
        if (method === 'return') end('break');
        if (fn === undefined) {
          if (method === 'throw') throw arg;
          return { done: true, value: arg };
        }
        reading++;
        try {
          const result = await fn.call(inner, arg);
          reading--;
          if (result.done) end(signal?.aborted && method === 'next' ? 'abort' : 'done');
          else assembler.add(result.value);
          if (!result.done && hiddenUsage && isRecord(result.value)) {
            // The usage-only chunk the app did not ask for is read past; `usage: null` on the others
            // is what asking adds to them, and is taken off again.
            if (Array.isArray(result.value.choices) && result.value.choices.length === 0 && isRecord(result.value.usage)) return step('next');
            if (result.value.usage === null) delete result.value.usage;
          }
          return result;
        } catch (error) {
          reading--;
          end('error', error);
          throw error;
        }
      };
      return {
        next: (arg?: unknown) => step('next', arg),
        return: (value?: unknown) => step('return', value),
        throw: (error?: unknown) => step('throw', error),
        [Symbol.asyncIterator]() {
          return this;
        },
      };
    };
  }
}
