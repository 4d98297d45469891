import { beforeEach, describe, expect, it } from 'vitest';
import { startSpan, trace, withSpan, type InMemoryTraceExporter } from '@threadline/tracing';
import { exportedTraces, initInMemory, recordingLogger } from './support/sdk-setup.js';

// A trace is a record: each value shows as it was when it was handed over, whatever the
// application does with the object afterwards (an array pushed to, an object filled in later).

type Message = { role: string; content: string };

let exporter: InMemoryTraceExporter;
let logger: ReturnType<typeof recordingLogger>;
beforeEach(() => {
  logger = recordingLogger();
  exporter = initInMemory({ logger });
});

async function onlySpanAttributes(): Promise<Record<string, unknown>> {
  const traces = await exportedTraces(exporter);
  expect(traces).toHaveLength(1);
  return traces[0]!.spans[0]!.attributes as Record<string, unknown>;
}

describe('values are recorded as they were', () => {
  it('a chat history pushed to after the call: inputs and outputs show the state of the call', async () => {
    const history: Message[] = [{ role: 'user', content: 'Hi' }];
    const chat = trace((messages: Message[]) => {
      const reply = { role: 'assistant', content: `${messages.length} message(s)` };
      return { reply, messages };
    }, { name: 'chat' });
    const result = chat(history);
    // The application keeps the conversation going with the very same objects.
    history.push(result.reply, { role: 'user', content: 'And now?' });
    result.reply.content = 'edited later';

    const attributes = await onlySpanAttributes();
    expect(attributes['mlflow.spanInputs']).toEqual({ messages: [{ role: 'user', content: 'Hi' }] });
    expect(attributes['mlflow.spanOutputs']).toEqual({
      reply: { role: 'assistant', content: '1 message(s)' },
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const info = (await exportedTraces(exporter))[0]!.info;
    expect(info.request_preview).toBe('Hi');
  });

  it('inputs mutated inside the function: the inputs are those it was called with', async () => {
    const request = { question: 'why?', attempts: 0 };
    const handle = trace(async (req: typeof request, tags: string[]) => {
      req.attempts++;
      req.question = 'rewritten';
      tags.push('handled');
      return 'ok';
    }, { name: 'handle' });
    const tags = ['incoming'];
    await handle(request, tags);
    const attributes = await onlySpanAttributes();
    expect(attributes['mlflow.spanInputs']).toEqual({ req: { question: 'why?', attempts: 0 }, tags: ['incoming'] });
    expect(request).toEqual({ question: 'rewritten', attempts: 1 });
  });

  it('setInputs / setOutputs / setAttribute / end({ outputs }) take the value at the call', async () => {
    const state = { step: 1, docs: ['a'] };
    withSpan((span) => {
      span.setInputs(state);
      span.setAttribute('state', state);
      span.setAttributes({ nested: { state } });
      state.step = 2;
      state.docs.push('b');
      span.setOutputs(state);
      state.step = 3;
    }, { name: 'with-span' });
    const attributes = await onlySpanAttributes();
    expect(attributes['mlflow.spanInputs']).toEqual({ step: 1, docs: ['a'] });
    expect(attributes.state).toEqual({ step: 1, docs: ['a'] });
    expect(attributes.nested).toEqual({ state: { step: 1, docs: ['a'] } });
    expect(attributes['mlflow.spanOutputs']).toEqual({ step: 2, docs: ['a', 'b'] });

    exporter.reset();
    const docs = [{ id: 1 }];
    const span = startSpan({ name: 'retrieve', inputs: { docs } });
    docs.push({ id: 2 });
    span.end({ outputs: docs, attributes: { first: docs[0] } });
    docs[0]!.id = 99;
    const retrieve = await onlySpanAttributes();
    expect(retrieve['mlflow.spanInputs']).toEqual({ docs: [{ id: 1 }] });
    expect(retrieve['mlflow.spanOutputs']).toEqual([{ id: 1 }, { id: 2 }]);
    expect(retrieve.first).toEqual({ id: 1 });
  });

  it('the live span reads back what was recorded, and changing what it returns changes nothing', async () => {
    withSpan((span) => {
      const inputs = { list: [1] };
      span.setInputs(inputs);
      inputs.list.push(2);
      expect(span.inputs).toEqual({ list: [1] });
      (span.inputs as { list: number[] }).list.push(3);
      expect(span.getAttribute('mlflow.spanInputs')).toEqual({ list: [1] });
      span.setAttribute('meta', { a: 1 });
      expect(span.getAttribute('meta')).toEqual({ a: 1 });
    }, { name: 'read-back' });
    expect((await onlySpanAttributes())['mlflow.spanInputs']).toEqual({ list: [1] });
  });

  it("a generator's items are recorded as they are yielded", async () => {
    const produce = trace(function* produce() {
      yield { n: 1 };
      yield { n: 2 };
    }, { name: 'produce' });
    const seen: { n: number }[] = [];
    for (const item of produce()) {
      item.n *= 10;
      seen.push(item);
    }
    expect(seen).toEqual([{ n: 10 }, { n: 20 }]);
    expect((await onlySpanAttributes())['mlflow.spanOutputs']).toEqual([{ n: 1 }, { n: 2 }]);
  });

  it('cyclic, BigInt, Map, Set, Error and throwing-getter values never throw into the application', async () => {
    const cyclic: Record<string, unknown> = { name: 'node' };
    cyclic.self = cyclic;
    const hostile = {
      get boom(): never {
        throw new Error('getter exploded');
      },
    };
    const fn = trace((graph: unknown, big: bigint, extras: unknown, bad: unknown) => ({ graph, big, extras, bad }), { name: 'weird' });
    const extras = { map: new Map([['k', 1]]), set: new Set([1, 2]), error: new TypeError('bad'), when: new Date(0) };
    const result = fn(cyclic, 2n ** 70n, extras, hostile);
    expect(result.graph).toBe(cyclic);
    withSpan((span) => {
      span.setAttribute('cyclic', cyclic);
      span.setAttribute('hostile', hostile);
    }, { name: 'attributes' });

    const traces = await exportedTraces(exporter);
    const attributes = traces[0]!.spans[0]!.attributes as Record<string, Record<string, unknown>>;
    const inputs = attributes['mlflow.spanInputs']!;
    expect(inputs.graph).toEqual({ name: 'node', self: '[Circular]' });
    expect(inputs.big).toBe('1180591620717411303424');
    expect(inputs.extras).toEqual({ map: { k: 1 }, set: [1, 2], error: { name: 'TypeError', message: 'bad' }, when: '1970-01-01T00:00:00.000Z' });
    expect(inputs.bad).toBe('[Unserializable: getter exploded]');
    const second = traces[1]!.spans[0]!.attributes as Record<string, unknown>;
    expect(second.cyclic).toEqual({ name: 'node', self: '[Circular]' });
    expect(second.hostile).toBe('[Unserializable: getter exploded]');
  });

  it('primitives, null, undefined arguments and rest parameters are recorded as the MLflow SDK names them', async () => {
    const fn = trace((a: string, b: number | undefined, c: null, ...rest: unknown[]) => [a, b, c, rest], { name: 'prims' });
    fn('x', undefined, null, 1, { two: 2 });
    expect((await onlySpanAttributes())['mlflow.spanInputs']).toEqual({ a: 'x', c: null, rest: [1, { two: 2 }] });
    exporter.reset();
    trace((...items: number[]) => items.length, { name: 'only-rest' })();
    expect((await onlySpanAttributes())['mlflow.spanInputs']).toEqual({ items: [] });
  });
});
