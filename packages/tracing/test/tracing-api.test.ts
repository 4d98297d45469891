import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  getCurrentActiveSpan,
  getLastActiveTraceId,
  SpanType,
  startSpan,
  trace,
  tracingContext,
  updateCurrentTrace,
  withSpan,
  type InMemoryTraceExporter,
} from '@threadline/tracing';
import { exportedTraces, initInMemory, recordingLogger } from './support/sdk-setup.js';

let exporter: InMemoryTraceExporter;
let logger: ReturnType<typeof recordingLogger>;
beforeEach(() => {
  logger = recordingLogger();
  exporter = initInMemory({ logger });
});

const names = (spans: { name: string }[]) => spans.map((s) => s.name);

describe('trace()', () => {
  it('records sync calls: inputs, outputs, latency; the return value is the function\'s own', async () => {
    const result = { answer: 42 };
    const fn = trace(function compute(question: string) {
      return result;
    });
    expect(fn('life')).toBe(result);
    expect(fn.name).toBe('compute');
    const [t] = await exportedTraces(exporter);
    const span = t!.spans[0]!;
    expect(span.name).toBe('compute');
    expect(span.attributes!['mlflow.spanInputs']).toEqual({ question: 'life' });
    expect(span.attributes!['mlflow.spanOutputs']).toEqual({ answer: 42 });
    expect(span.end_time_unix_nano! >= span.start_time_unix_nano).toBe(true);
    expect(getLastActiveTraceId()).toBe(t!.info.trace_id);
  });

  it('rethrows the very error a sync or async function throws, and records it', async () => {
    class AppError extends Error {}
    const error = new AppError('nope');
    const sync = trace(() => {
      throw error;
    });
    const asyncFn = trace(async () => {
      await sleep(1);
      throw error;
    });
    expect(() => sync()).toThrow(error);
    await expect(asyncFn()).rejects.toBe(error);
    const traces = await exportedTraces(exporter);
    expect(traces.map((t) => t.info.state)).toEqual(['ERROR', 'ERROR']);
    expect(traces[1]!.spans[0]!.status).toEqual({ code: 'STATUS_CODE_ERROR', message: 'nope' });
  });

  it('ends an async span when its promise settles, nesting the spans awaited inside', async () => {
    const child = trace(async (n: number) => {
      await sleep(2);
      return n * 2;
    }, { name: 'child', spanType: SpanType.TOOL });
    const parent = trace(async (n: number) => (await child(n)) + (await child(n + 1)), { name: 'parent' });
    await expect(parent(1)).resolves.toBe(6);
    const [t] = await exportedTraces(exporter);
    expect(names(t!.spans)).toEqual(['parent', 'child', 'child']);
    expect(t!.spans[1]!.parent_span_id).toBe(t!.spans[0]!.span_id);
    expect(t!.spans[0]!.attributes!['mlflow.spanOutputs']).toBe(6);
    expect(t!.spans[1]!.attributes!['mlflow.spanType']).toBe('TOOL');
  });

  it('returns a non-native thenable as is (its extra API intact) and still records its value', async () => {
    class ApiPromise<T> extends Promise<T> {
      withResponse() {
        return 'raw';
      }
    }
    const call = trace(() => new ApiPromise<string>((resolve) => setTimeout(() => resolve('done'), 1)), { name: 'sdk' });
    const returned = call();
    expect(returned).toBeInstanceOf(ApiPromise);
    expect(returned.withResponse()).toBe('raw');
    await expect(returned).resolves.toBe('done');
    const [t] = await exportedTraces(exporter);
    expect(t!.spans[0]!.attributes!['mlflow.spanOutputs']).toBe('done');
  });

  it('keeps a generator\'s span open until it is exhausted; items are the outputs; inner spans nest', async () => {
    const inner = trace((x: number) => x * 10, { name: 'inner' });
    const gen = trace(function* numbers(count: number) {
      for (let i = 1; i <= count; i++) yield inner(i);
    });
    const iterator = gen(3);
    expect(iterator.next()).toEqual({ value: 10, done: false });
    expect(exporter.exportedCount).toBe(0);
    expect([...iterator]).toEqual([20, 30]);
    const [t] = await exportedTraces(exporter);
    expect(names(t!.spans)).toEqual(['numbers', 'inner', 'inner', 'inner']);
    expect(t!.spans.slice(1).every((s) => s.parent_span_id === t!.spans[0]!.span_id)).toBe(true);
    expect(t!.spans[0]!.attributes!['mlflow.spanOutputs']).toEqual([10, 20, 30]);
  });

  it('ends a generator\'s span when the consumer stops early or the generator throws', async () => {
    const gen = trace(function* forever() {
      for (let i = 0; ; i++) yield i;
    });
    for (const value of gen()) if (value === 2) break;
    const failing = trace(async function* failing() {
      yield 1;
      throw new Error('stream broke');
    });
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const value of failing()) seen.push(value);
      })(),
    ).rejects.toThrow('stream broke');
    expect(seen).toEqual([1]);
    const traces = await exportedTraces(exporter);
    expect(traces.map((t) => [t.spans[0]!.name, t.info.state])).toEqual([
      ['forever', 'OK'],
      ['failing', 'ERROR'],
    ]);
    expect(traces[0]!.spans[0]!.attributes!['mlflow.spanOutputs']).toEqual([0, 1, 2]);
  });

  it('keeps `this` for methods and works as a decorator', async () => {
    class Bot {
      prefix = '>';
      reply = trace(function (this: Bot, text: string) {
        return `${this.prefix} ${text}`;
      }, { name: 'reply' });
    }
    expect(new Bot().reply('hi')).toBe('> hi');
    const decorate = trace({ name: 'decorated', spanType: SpanType.AGENT });
    const descriptor = decorate({}, 'act', { value: (x: number) => x + 1 }) as PropertyDescriptor;
    expect(descriptor.value(1)).toBe(2);
    const traces = await exportedTraces(exporter);
    expect(traces.map((t) => t.spans[0]!.name)).toEqual(['reply', 'decorated']);
  });

  it('runs untouched before init-time export config and inside tracingContext({ enabled: false })', async () => {
    const fn = trace((x: number) => x + 1);
    expect(tracingContext({ enabled: false }, () => fn(1))).toBe(2);
    expect(await exportedTraces(exporter)).toEqual([]);
  });
});

describe('withSpan, startSpan, getCurrentActiveSpan', () => {
  it('withSpan makes its span active; explicit outputs win over the return value', async () => {
    const value = withSpan(
      (span) => {
        expect(getCurrentActiveSpan()?.spanId).toBe(span.spanId);
        span.setOutputs('explicit');
        return 'returned';
      },
      { name: 'outer', inputs: { q: 1 }, attributes: { 'app.flag': true } },
    );
    expect(value).toBe('returned');
    expect(getCurrentActiveSpan()).toBeNull();
    const [t] = await exportedTraces(exporter);
    expect(t!.spans[0]!.attributes).toMatchObject({ 'mlflow.spanInputs': { q: 1 }, 'mlflow.spanOutputs': 'explicit', 'app.flag': true });
  });

  it('startSpan is not active; children name it as parent', async () => {
    const root = startSpan({ name: 'manual', spanType: SpanType.CHAIN, inputs: 'in' });
    expect(getCurrentActiveSpan()).toBeNull();
    const child = startSpan({ name: 'child', parent: root });
    child.end({ outputs: 'c' });
    root.end({ outputs: 'out', attributes: { k: 'v' } });
    const [t] = await exportedTraces(exporter);
    expect(names(t!.spans)).toEqual(['manual', 'child']);
    expect(t!.spans[1]!.parent_span_id).toBe(t!.spans[0]!.span_id);
    expect(t!.info.request_preview).toBe('in');
    expect(t!.spans[0]!.attributes).toMatchObject({ k: 'v', 'mlflow.spanOutputs': 'out' });
  });
});

describe('context propagation and trace metadata', () => {
  it('flows through await, timers, event emitters and promise chains', async () => {
    const seen: (string | undefined)[] = [];
    const emitter = new EventEmitter();
    const probe = trace(() => getCurrentActiveSpan()?.name, { name: 'probe' });
    await withSpan(
      async () => {
        await sleep(1);
        seen.push(getCurrentActiveSpan()?.name);
        await new Promise<void>((resolve) =>
          setTimeout(() => {
            seen.push(getCurrentActiveSpan()?.name);
            resolve();
          }, 1),
        );
        await new Promise<void>((resolve) => {
          emitter.once('go', () => {
            seen.push(getCurrentActiveSpan()?.name);
            probe();
            resolve();
          });
          emitter.emit('go');
        });
        await Promise.resolve().then(() => seen.push(getCurrentActiveSpan()?.name));
      },
      { name: 'request' },
    );
    expect(seen).toEqual(['request', 'request', 'request', 'request']);
    const [t] = await exportedTraces(exporter);
    expect(names(t!.spans)).toEqual(['request', 'probe']);
  });

  it('tracingContext gives root spans user, session, metadata and tags; inner scopes win', async () => {
    const fn = trace(() => 'x', { name: 'fn' });
    tracingContext({ user: 'u1', sessionId: 's1', metadata: { a: '1' }, tags: { t: '1' } }, () =>
      tracingContext({ sessionId: 's2', metadata: { b: '2' } }, () => fn()),
    );
    const [t] = await exportedTraces(exporter);
    expect(t!.info.trace_metadata).toMatchObject({ 'mlflow.trace.user': 'u1', 'mlflow.trace.session': 's2', a: '1', b: '2' });
    expect(t!.info.tags).toEqual({ t: '1' });
    expect(t!.spans[0]!.attributes).toMatchObject({ 'user.id': 'u1', 'session.id': 's2' });
  });

  it('updateCurrentTrace outside any trace changes nothing and warns once', async () => {
    updateCurrentTrace({ metadata: { stage: 'outside' } });
    updateCurrentTrace({ user: 'nobody' });
    expect(logger.messages.filter((m) => m.message.includes('outside a trace'))).toHaveLength(1);
    expect(await exportedTraces(exporter)).toEqual([]);
  });

  it('freezes metadata when the trace ends: later updates are ignored with one warning', async () => {
    let later: Promise<void> | undefined;
    trace(() => {
      // Fire-and-forget work that outlives the traced call.
      later = sleep(5).then(() => {
        updateCurrentTrace({ metadata: { stage: 'after' }, user: 'late-user' });
        updateCurrentTrace({ tags: { again: '1' } });
      });
      updateCurrentTrace({ metadata: { stage: 'during' } });
    }, { name: 'root' })();
    await later;
    const [t] = await exportedTraces(exporter);
    expect(t!.info.trace_metadata!.stage).toBe('during');
    expect(t!.info.trace_metadata!['mlflow.trace.user']).toBeUndefined();
    expect(t!.info.tags).toEqual({});
    expect(logger.messages.filter((m) => m.message.includes('after trace'))).toHaveLength(1);
  });
});
