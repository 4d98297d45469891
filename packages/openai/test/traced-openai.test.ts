import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getLastActiveTraceId, trace, tracingContext, SpanType } from '@threadline/tracing';
import { tracedOpenAI } from '@threadline/openai';
import { lastStoredTrace, startTestBed, type TestBed } from './support/servers.js';

// The real `openai` client, over HTTP to the fake endpoint, through tracedOpenAI; every span is read
// back from a real Threadline server.

let bed: TestBed;
let openai: OpenAI;

beforeAll(async () => {
  bed = await startTestBed('openai-autolog');
  openai = tracedOpenAI(bed.openai);
});
afterAll(async () => {
  await bed?.close();
});

const stored = () => lastStoredTrace(bed.client);
const weather = { type: 'function' as const, function: { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { query: { type: 'string' } } } } };

describe('chat.completions.create', () => {
  it('records inputs, outputs, model, provider, format and token usage; previews on the trace', async () => {
    const params = { model: 'gpt-4.1-mini', messages: [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi there' }] };
    const completion = await openai.chat.completions.create(params);
    const reply = completion.choices[0]!.message.content!;
    expect(reply).toContain('Hi there');

    const { info, data } = await stored();
    expect(data.spans).toHaveLength(1);
    const [span] = data.spans;
    expect(span).toMatchObject({ name: 'Completions', spanType: SpanType.CHAT_MODEL, parentId: null, status: { statusCode: 'STATUS_CODE_OK' } });
    expect(span!.inputs).toEqual(params);
    expect(span!.outputs).toEqual(JSON.parse(JSON.stringify(completion)));
    const usage = { input_tokens: completion.usage!.prompt_tokens, output_tokens: completion.usage!.completion_tokens, total_tokens: completion.usage!.total_tokens };
    expect(usage.input_tokens).toBeGreaterThan(0);
    expect(span!.attributes).toMatchObject({
      'mlflow.llm.model': 'gpt-4.1-mini',
      'mlflow.llm.provider': 'openai',
      'mlflow.message.format': 'openai',
      'mlflow.chat.tokenUsage': usage,
    });
    expect(span!.attributes['mlflow.chat.tools']).toBeUndefined();
    expect(info.state).toBe('OK');
    expect(info.requestPreview).toBe('Hi there');
    expect(info.responsePreview).toBe(reply);
    expect(JSON.parse(info.traceMetadata['mlflow.trace.tokenUsage']!)).toEqual(usage);
  });

  it('is a child of the traced function that calls it', async () => {
    const answer = trace(
      async (question: string) => {
        const completion = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: question }] });
        return completion.choices[0]!.message.content;
      },
      { name: 'answer', spanType: SpanType.CHAIN },
    );
    const reply = await answer('What is a span?');
    const { info, data } = await stored();
    // Spans come back in no particular order: found by name.
    expect(data.spans.map((s) => s.name).sort()).toEqual(['Completions', 'answer']);
    const root = data.spans.find((s) => s.name === 'answer');
    const child = data.spans.find((s) => s.name === 'Completions');
    expect(root!.parentId).toBeNull();
    expect(child!.parentId).toBe(root!.spanId);
    expect(root!.outputs).toBe(reply);
    expect(info.traceMetadata['mlflow.trace.tokenUsage']).toBeDefined();
  });

  it('records tool definitions and the tool calls of the reply', async () => {
    const completion = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weather] });
    const call = completion.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && call.function.name).toBe('get_weather');
    const [span] = (await stored()).data.spans;
    expect(span!.attributes['mlflow.chat.tools']).toEqual([weather]);
    expect((span!.outputs as OpenAI.ChatCompletion).choices[0]!.message.tool_calls).toEqual(completion.choices[0]!.message.tool_calls);
    expect((span!.outputs as OpenAI.ChatCompletion).choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('streamed: the span ends when the stream is consumed, with the assembled message and the usage chunk', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Stream me a reply' }], stream: true, stream_options: { include_usage: true } });
    expect(stream).toBeInstanceOf((await import('openai/streaming')).Stream);
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(chunks).toBeGreaterThan(3);
    expect(usage).toBeDefined();

    const { info, data } = await stored();
    const outputs = data.spans[0]!.outputs as OpenAI.ChatCompletion;
    expect(outputs.object).toBe('chat.completion');
    expect(outputs.choices[0]!.message).toMatchObject({ role: 'assistant', content: text });
    expect(outputs.choices[0]!.finish_reason).toBe('stop');
    expect(data.spans[0]!.attributes['mlflow.chat.tokenUsage']).toEqual({ input_tokens: usage!.prompt_tokens, output_tokens: usage!.completion_tokens, total_tokens: usage!.total_tokens });
    expect(data.spans[0]!.events).toEqual([]);
    expect(info.responsePreview).toBe(text);
  });

  it('streamed without include_usage: the usage is asked for and recorded, and the app reads the stream it asked for', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Usage for the trace only' }], stream: true });
    let text = '';
    const seen: Record<string, unknown>[] = [];
    for await (const chunk of stream) {
      seen.push(chunk as unknown as Record<string, unknown>);
      text += chunk.choices[0]?.delta.content ?? '';
    }
    // The wire carried include_usage; the app saw no usage chunk and no usage field, as without it.
    expect(bed.fake.requests.at(-1)!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(seen.every((c) => Array.isArray(c.choices) && (c.choices as unknown[]).length > 0 && !('usage' in c))).toBe(true);
    const [span] = (await stored()).data.spans;
    expect((span!.outputs as OpenAI.ChatCompletion).choices[0]!.message.content).toBe(text);
    expect(span!.inputs).not.toHaveProperty('stream_options');
    const usage = span!.attributes['mlflow.chat.tokenUsage'] as { input_tokens: number; output_tokens: number; total_tokens: number };
    expect(usage.output_tokens).toBeGreaterThan(0);
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
  });

  it('streamed with streamUsage off: the request goes as the app made it, and no usage is invented', async () => {
    const plain = tracedOpenAI(bed.openai, { streamUsage: false });
    const stream = await plain.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'No usage please' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(bed.fake.requests.at(-1)!.body).not.toHaveProperty('stream_options');
    const [span] = (await stored()).data.spans;
    expect((span!.outputs as OpenAI.ChatCompletion).choices[0]!.message.content).toBe(text);
    expect(span!.attributes['mlflow.chat.tokenUsage']).toBeUndefined();
  });

  it('streamed tool calls are assembled from their argument fragments', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Weather in a city with a long name?' }], tools: [weather], stream: true });
    let args = '';
    for await (const chunk of stream) args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
    const [span] = (await stored()).data.spans;
    const message = (span!.outputs as OpenAI.ChatCompletion).choices[0]!.message;
    expect(message.tool_calls).toHaveLength(1);
    expect(message.tool_calls![0]).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: args } });
    expect(JSON.parse(args)).toEqual({ query: 'Weather in a city with a long name?' });
  });

  it('a stream abandoned with break still ends its span, with the partial output', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'A long answer I will not read' }], stream: true, stream_options: { include_usage: true } });
    const received: string[] = [];
    for await (const chunk of stream) {
      received.push(chunk.choices[0]?.delta.content ?? '');
      if (received.length === 2) break;
    }
    const { info, data } = await stored();
    const [span] = data.spans;
    expect(info.state).toBe('OK');
    expect((span!.outputs as OpenAI.ChatCompletion).choices[0]!.message.content).toBe(received.join(''));
    expect(span!.events).toEqual([expect.objectContaining({ name: 'stream.incomplete', attributes: { reason: 'break', items: 2 } })]);
    expect(span!.attributes['mlflow.chat.tokenUsage']).toBeUndefined();
  });

  it('a stream stopped with controller.abort() ends its span', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Stop me early' }], stream: true });
    let text = '';
    let atAbort: string | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (text !== '' && atAbort === undefined) {
        atAbort = text;
        stream.controller.abort();
      }
    }
    const [span] = (await stored()).data.spans;
    // What the app had when it aborted (chunks the SDK had already buffered may still come after).
    expect((span!.outputs as OpenAI.ChatCompletion).choices[0]!.message.content).toBe(atAbort);
    expect(span!.events).toEqual([expect.objectContaining({ name: 'stream.incomplete', attributes: expect.objectContaining({ reason: 'abort' }) })]);
  });

  it('an error mid-stream is recorded with the partial output and reaches the app unchanged', async () => {
    const stream = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Fail half way [[error:stream]]' }], stream: true });
    let text = '';
    const error = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(text).not.toBe('');
    const { info, data } = await stored();
    const [span] = data.spans;
    expect(info.state).toBe('ERROR');
    expect(span!.status.statusCode).toBe('STATUS_CODE_ERROR');
    expect(span!.events[0]).toMatchObject({ name: 'exception', attributes: { 'exception.message': (error as Error).message } });
    expect((span!.outputs as OpenAI.ChatCompletion).choices[0]!.message.content).toBe(text);
  });

  it('an API error is recorded on the span and rethrown as the very object the SDK made', async () => {
    const pending = openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Too fast [[error:429]]' }] });
    const caught = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    // The SDK's own rejection, before anything of tracedOpenAI could touch it.
    const original = await (pending as unknown as { responsePromise: Promise<unknown> }).responsePromise.catch((e: unknown) => e);
    expect(caught).toBeInstanceOf(OpenAI.RateLimitError);
    expect(caught).toBe(original);
    expect((caught as InstanceType<typeof OpenAI.APIError>).status).toBe(429);

    const { info, data } = await stored();
    const [span] = data.spans;
    expect(info.state).toBe('ERROR');
    expect(span!.status).toEqual({ statusCode: 'STATUS_CODE_ERROR', description: (caught as Error).message });
    expect(span!.events).toEqual([
      expect.objectContaining({ name: 'exception', attributes: expect.objectContaining({ 'exception.type': 'rate_limit_exceeded', 'exception.message': (caught as Error).message }) }),
    ]);
    expect(span!.outputs).toBeUndefined();
  });

  it('keeps the APIPromise helpers: withResponse() and asResponse()', async () => {
    const { data, response, request_id } = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'With response' }] }).withResponse();
    expect(response.status).toBe(200);
    expect(request_id).toMatch(/^req_/);
    let span = (await stored()).data.spans[0]!;
    expect((span.outputs as OpenAI.ChatCompletion).id).toBe(data.id);

    const raw = await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Raw response' }] }).asResponse();
    // The body is the app's to read: the trace did not consume it.
    const body = (await raw.json()) as OpenAI.ChatCompletion;
    expect(body.choices[0]!.message.content).toContain('Raw response');
    span = (await stored()).data.spans[0]!;
    expect(span.inputs).toMatchObject({ messages: [{ content: 'Raw response' }] });
    expect(span.status.statusCode).toBe('STATUS_CODE_OK');
  });

  it("traces the SDK's helpers that call create: chat.completions.stream()", async () => {
    const runner = openai.chat.completions.stream({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Helper stream' }] });
    const final = await runner.finalChatCompletion();
    const [span] = (await stored()).data.spans;
    expect(span!.name).toBe('Completions');
    expect((span!.outputs as OpenAI.ChatCompletion).choices[0]!.message.content).toBe(final.choices[0]!.message.content);
  });
});

describe('responses.create', () => {
  it('records a Responses call: CHAT_MODEL, usage in input/output tokens, previews', async () => {
    const response = await openai.responses.create({ model: 'gpt-4.1-mini', instructions: 'Be nice.', input: 'Tell me about sessions' });
    const { info, data } = await stored();
    const [span] = data.spans;
    expect(span).toMatchObject({ name: 'Responses', spanType: SpanType.CHAT_MODEL });
    expect(span!.attributes).toMatchObject({
      'mlflow.llm.model': 'gpt-4.1-mini',
      'mlflow.message.format': 'openai',
      'mlflow.chat.tokenUsage': { input_tokens: response.usage!.input_tokens, output_tokens: response.usage!.output_tokens, total_tokens: response.usage!.total_tokens },
    });
    expect((span!.outputs as OpenAI.Responses.Response).output_text).toBe(response.output_text);
    expect(info.requestPreview).toBe('Tell me about sessions');
    expect(info.responsePreview).toBe(response.output_text);
  });

  it('records Responses function tools in the chat tools form', async () => {
    const tool = { type: 'function' as const, name: 'lookup', description: 'Look up', parameters: { type: 'object', properties: {} }, strict: false };
    const response = await openai.responses.create({ model: 'gpt-4.1-mini', input: [{ role: 'user', content: 'Look this up' }], tools: [tool] });
    expect(response.output[0]!.type).toBe('function_call');
    const [span] = (await stored()).data.spans;
    expect(span!.attributes['mlflow.chat.tools']).toEqual([{ type: 'function', function: { name: 'lookup', description: 'Look up', parameters: { type: 'object', properties: {} }, strict: false } }]);
  });

  it('streamed: the final response with its usage, or what had arrived when abandoned', async () => {
    const stream = await openai.responses.create({ model: 'gpt-4.1-mini', input: 'Stream a response', stream: true });
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') completed = event.response;
    }
    let { info, data } = await stored();
    expect((data.spans[0]!.outputs as OpenAI.Responses.Response)).toMatchObject({ id: completed!.id, status: 'completed', output_text: text });
    expect(data.spans[0]!.attributes['mlflow.chat.tokenUsage']).toEqual({ input_tokens: completed!.usage!.input_tokens, output_tokens: completed!.usage!.output_tokens, total_tokens: completed!.usage!.total_tokens });
    expect(info.responsePreview).toBe(text);

    const partial = await openai.responses.create({ model: 'gpt-4.1-mini', input: 'Stream and leave', stream: true });
    let first = '';
    for await (const event of partial) {
      if (event.type === 'response.output_text.delta') {
        first = event.delta;
        break;
      }
    }
    ({ info, data } = await stored());
    expect((data.spans[0]!.outputs as OpenAI.Responses.Response)).toMatchObject({ status: 'in_progress', output_text: first });
    expect(data.spans[0]!.events[0]).toMatchObject({ name: 'stream.incomplete', attributes: { reason: 'break' } });
  });

  it('a streamed response.failed marks the span as failed', async () => {
    const stream = await openai.responses.create({ model: 'gpt-4.1-mini', input: 'Fail [[error:stream]]', stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toContain('response.failed');
    const { info, data } = await stored();
    expect(info.state).toBe('ERROR');
    expect(data.spans[0]!.status.description).toContain('mid-stream');
  });
});

describe('embeddings.create', () => {
  it('records an EMBEDDING span with the vectors as numbers and the prompt tokens', async () => {
    const result = await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['first text', 'second text'] });
    expect(result.data[0]!.embedding).toHaveLength(8);
    const [span] = (await stored()).data.spans;
    expect(span).toMatchObject({ name: 'Embeddings', spanType: SpanType.EMBEDDING });
    expect(span!.attributes).toMatchObject({
      'mlflow.llm.model': 'text-embedding-3-small',
      'mlflow.chat.tokenUsage': { input_tokens: result.usage.prompt_tokens, output_tokens: 0, total_tokens: result.usage.total_tokens },
    });
    expect(span!.attributes['mlflow.message.format']).toBeUndefined();
    const vectors = (span!.outputs as { data: { embedding: number[] }[] }).data.map((d) => d.embedding);
    expect(vectors[1]).toEqual(Array.from(result.data[1]!.embedding));
  });
});

describe('the proxy', () => {
  it('passes other members through, bound to their real owner, and keeps identities stable', async () => {
    expect(openai.chat).toBe(openai.chat);
    expect(openai.chat.completions.create).toBe(openai.chat.completions.create);
    expect(openai.apiKey).toBe('fake-key');
    expect(openai.baseURL).toBe(bed.fake.url);
    // A client method that reads the client's private fields.
    expect(openai.buildURL('/models', null)).toBe(bed.openai.buildURL('/models', null));
    expect(openai.withOptions({ timeout: 1000 })).toBeInstanceOf(OpenAI);
  });

  it('traces nothing inside tracingContext({ enabled: false })', async () => {
    const before = getLastActiveTraceId();
    await tracingContext({ enabled: false }, () => openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'untraced' }] }));
    expect(getLastActiveTraceId()).toBe(before);
  });

  it('rethrows a synchronous throw and a plain rejection unchanged, with the span ERROR', async () => {
    const boom = new Error('bad arguments');
    const rejection = new Error('rejected');
    const client = {
      chat: {
        _client: null,
        completions: {
          _client: null,
          create(params: { fail: 'sync' | 'async' }) {
            if (params.fail === 'sync') throw boom;
            return Promise.reject(rejection);
          },
        },
      },
    };
    const traced = tracedOpenAI(client);
    expect(() => traced.chat.completions.create({ fail: 'sync' })).toThrow(boom);
    let span = (await stored()).data.spans[0]!;
    expect(span.status).toEqual({ statusCode: 'STATUS_CODE_ERROR', description: 'bad arguments' });
    await expect(traced.chat.completions.create({ fail: 'async' })).rejects.toBe(rejection);
    span = (await stored()).data.spans[0]!;
    expect(span.status.description).toBe('rejected');
  });
});
