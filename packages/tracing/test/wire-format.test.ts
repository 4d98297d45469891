import { beforeEach, describe, expect, it } from 'vitest';
import { SpanAttributeKey, SpanType, trace, updateCurrentTrace, withSpan, type InMemoryTraceExporter } from '@threadline/tracing';
import { exportedTraces, initInMemory } from './support/sdk-setup.js';
import { parseSpanJsonText, spansJsonText, stringifyWithBigInts } from '../src/json-text.js';

let exporter: InMemoryTraceExporter;
beforeEach(() => {
  exporter = initInMemory();
});

describe('wire JSON (reference §3.11)', () => {
  it('writes TraceInfo as example 1: metadata, user, session, tags, client request id, token usage, previews', async () => {
    const add = trace(
      (a: number, b: number) => {
        updateCurrentTrace({ sessionId: 'sess-1', user: 'user-1', clientRequestId: 'req-42', metadata: { 'app.version': '1.2' }, tags: { fruit: 'apple' } });
        const inner = withSpan(
          (span) => {
            span.setAttribute('custom.num', 5);
            span.setAttribute(SpanAttributeKey.TOKEN_USAGE, { input_tokens: 3, output_tokens: 4, total_tokens: 7 });
            return a * b;
          },
          { name: 'inner', spanType: SpanType.LLM, inputs: { a, b } },
        );
        return inner + a + b;
      },
      { name: 'add', spanType: SpanType.CHAIN },
    );
    expect(add(2, 3)).toBe(11);
    const [exported] = await exportedTraces(exporter);
    const info = exported!.info;
    expect(info.trace_id).toMatch(/^tr-[0-9a-f]{32}$/);
    expect(Object.keys(info)).toEqual([
      'trace_id',
      'client_request_id',
      'trace_location',
      'request_preview',
      'response_preview',
      'request_time',
      'execution_duration',
      'state',
      'trace_metadata',
      'tags',
      'assessments',
    ]);
    expect(info).toMatchObject({
      client_request_id: 'req-42',
      trace_location: { type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } },
      request_preview: '{"a":2,"b":3}',
      response_preview: '11',
      state: 'OK',
      tags: { fruit: 'apple' },
      assessments: [],
    });
    expect(info.request_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(info.execution_duration).toMatch(/^\d+(\.\d+)?s$/);
    expect(info.trace_metadata).toEqual({
      'mlflow.trace_schema.version': '3',
      'app.version': '1.2',
      'mlflow.trace.session': 'sess-1',
      'mlflow.trace.user': 'user-1',
      'mlflow.trace.tokenUsage': '{"input_tokens":3,"output_tokens":4,"total_tokens":7}',
      'mlflow.traceInputs': '{"a":2,"b":3}',
      'mlflow.traceOutputs': '11',
    });
  });

  it('writes spans as example 2: base64 ids (the true trace id), root parent "", ns BigInts, plain attribute values', async () => {
    const add = trace((a: number, b: number) => withSpan((span) => (span.setAttribute('custom.obj', { k: [1, 2] }), a * b), { name: 'inner', spanType: SpanType.LLM }) + a + b, {
      name: 'add',
      spanType: SpanType.CHAIN,
    });
    add(2, 3);
    const [exported] = await exportedTraces(exporter);
    const [root, inner] = exported!.spans;
    const otelHex = exported!.info.trace_id.slice(3);
    expect(Buffer.from(root!.trace_id, 'base64').toString('hex')).toBe(otelHex);
    expect(Buffer.from(root!.span_id, 'base64')).toHaveLength(8);
    expect(root!.parent_span_id).toBe('');
    expect(inner!.parent_span_id).toBe(root!.span_id);
    expect(inner!.trace_id).toBe(root!.trace_id);
    expect(typeof root!.start_time_unix_nano).toBe('bigint');
    expect(root!.end_time_unix_nano! >= root!.start_time_unix_nano).toBe(true);
    expect(root!.status).toEqual({ code: 'STATUS_CODE_OK', message: '' });
    expect(root!.attributes).toEqual({
      'mlflow.traceRequestId': exported!.info.trace_id,
      'mlflow.spanType': 'CHAIN',
      'mlflow.spanInputs': { a: 2, b: 3 },
      'mlflow.spanOutputs': 11,
    });
    expect(inner!.attributes).toEqual({
      'mlflow.traceRequestId': exported!.info.trace_id,
      'mlflow.spanType': 'LLM',
      'custom.obj': { k: [1, 2] },
      'mlflow.spanOutputs': 6,
    });
    expect(root!.events).toEqual([]);
    // Nanoseconds above 2^53 survive the trip to text exactly.
    const text = spansJsonText(exported!.spans);
    expect(text).toBe(stringifyWithBigInts({ spans: exported!.spans }));
    expect(text).toContain(`"start_time_unix_nano":${root!.start_time_unix_nano}`);
    expect((parseSpanJsonText(text) as { spans: { end_time_unix_nano: bigint }[] }).spans[0]!.end_time_unix_nano).toBe(root!.end_time_unix_nano);
  });

  it('writes a failing trace as example 3: state ERROR, empty previews, exception event, "0s"-style duration', async () => {
    const boom = new Error('boom');
    expect(() => withSpan(() => {
      throw boom;
    }, { name: 'failing' })).toThrow(boom);
    const [exported] = await exportedTraces(exporter);
    expect(exported!.info).toMatchObject({ request_preview: '', response_preview: '', state: 'ERROR', tags: {} });
    expect(exported!.info.trace_metadata).toEqual({ 'mlflow.trace_schema.version': '3', 'mlflow.traceInputs': '', 'mlflow.traceOutputs': '' });
    const [span] = exported!.spans;
    expect(span!.status).toEqual({ code: 'STATUS_CODE_ERROR', message: 'boom' });
    expect(span!.attributes).toEqual({ 'mlflow.traceRequestId': exported!.info.trace_id, 'mlflow.spanType': 'UNKNOWN' });
    expect(span!.events).toHaveLength(1);
    expect(span!.events![0]).toMatchObject({ name: 'exception', attributes: { 'exception.type': 'Error', 'exception.message': 'boom' } });
    expect(String(span!.events![0]!.attributes!['exception.stacktrace'])).toContain('Error: boom');
    expect(typeof span!.events![0]!.time_unix_nano).toBe('bigint');
  });

  it('cuts previews to 1000 characters as 997 + "..."', async () => {
    const echo = trace((text: string) => text.toUpperCase());
    echo('x'.repeat(1500));
    const [exported] = await exportedTraces(exporter);
    expect(exported!.info.request_preview).toHaveLength(1000);
    expect(exported!.info.request_preview).toBe(`{"text":"${'x'.repeat(988)}...`);
    expect(exported!.info.response_preview).toBe(`${'X'.repeat(997)}...`);
    expect(exported!.info.trace_metadata!['mlflow.traceOutputs']).toBe(exported!.info.response_preview);
  });

  it('previews the last user message and the assistant reply of OpenAI chat, Responses and messages shapes', async () => {
    const chat = trace((request: unknown) => ({ choices: [{ message: { role: 'assistant', content: 'Hello there' } }], usage: {} }), { name: 'chat' });
    chat({ model: 'gpt-4.1-mini', messages: [{ role: 'system', content: 'Be nice' }, { role: 'user', content: 'Hi!' }, { role: 'assistant', content: 'Yo' }, { role: 'user', content: 'How are you?' }] });
    const responses = trace((request: unknown) => ({ output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Fine.' }] }] }), { name: 'responses' });
    responses({ model: 'gpt-4.1', input: [{ role: 'user', content: [{ type: 'input_text', text: 'And you?' }] }] });
    const anthropic = trace((request: unknown) => ({ role: 'assistant', content: [{ type: 'text', text: 'Bonjour' }] }), { name: 'messages' });
    anthropic({ model: 'claude', messages: [{ role: 'user', content: [{ type: 'text', text: 'Salut' }] }] });
    const named = trace((message: { role: string; content: string }[], userId: string) => 'ok', { name: 'named' });
    named([{ role: 'user', content: 'Hello, how are you?' }], 'user-1');
    const traces = await exportedTraces(exporter);
    expect(traces.map((t) => [t.info.request_preview, t.info.response_preview])).toEqual([
      ['How are you?', 'Hello there'],
      ['And you?', 'Fine.'],
      ['Salut', 'Bonjour'],
      ['Hello, how are you?', 'ok'],
    ]);
  });

  it('sums token usage over spans, skipping spans under a span that has usage', async () => {
    const usage = (n: number) => ({ input_tokens: n, output_tokens: n, total_tokens: 2 * n });
    withSpan(
      () => {
        withSpan((s) => {
          s.setAttribute(SpanAttributeKey.TOKEN_USAGE, usage(10));
          // The client call under the wrapper reports the same tokens: not counted twice.
          withSpan((c) => c.setAttribute(SpanAttributeKey.TOKEN_USAGE, usage(10)), { name: 'client' });
        }, { name: 'wrapper' });
        withSpan((s) => s.setAttribute(SpanAttributeKey.TOKEN_USAGE, usage(1)), { name: 'other' });
      },
      { name: 'root' },
    );
    const [exported] = await exportedTraces(exporter);
    expect(JSON.parse(exported!.info.trace_metadata!['mlflow.trace.tokenUsage']!)).toEqual({ input_tokens: 11, output_tokens: 11, total_tokens: 22 });
  });

  it('names inputs by parameter, with defaults, rest and destructuring; falls back to {args}', async () => {
    function plain(city: string, units = 'metric', ...extra: unknown[]) {
      return `${city} ${units} ${extra.length}`;
    }
    trace(plain)('Paris', 'imperial', 1, 2);
    trace(({ a }: { a: number }, [b]: number[]) => a + b!)({ a: 1 }, [2]);
    const generated = [
      ...trace(function* gen(prompt: string) {
        yield prompt;
      })('hi'),
    ];
    expect(generated).toEqual(['hi']);
    const bound = trace(((x: number) => x).bind(null));
    bound(7);
    const traces = await exportedTraces(exporter);
    const inputs = traces.map((t) => t.spans[0]!.attributes![SpanAttributeKey.INPUTS]);
    expect(inputs).toEqual([{ city: 'Paris', units: 'imperial', extra: [1, 2] }, { arg0: { a: 1 }, arg1: [2] }, { prompt: 'hi' }, { args: [7] }]);
  });

  it('serialises awkward values without throwing: BigInt, cycles, functions, Maps, Errors', async () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    trace((value: unknown) => new Map([['k', 1n]]))({ big: 2n ** 70n, cyclic, fn: () => 1, err: new Error('bad') });
    const [exported] = await exportedTraces(exporter);
    expect(exported!.spans[0]!.attributes![SpanAttributeKey.INPUTS]).toEqual({
      value: { big: '1180591620717411303424', cyclic: { name: 'loop', self: '[Circular]' }, fn: '[Function]', err: { name: 'Error', message: 'bad' } },
    });
    expect(exported!.spans[0]!.attributes![SpanAttributeKey.OUTPUTS]).toEqual({ k: 1 });
  });
});
