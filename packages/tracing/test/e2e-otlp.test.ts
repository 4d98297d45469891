import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  flushTraces,
  getExportStats,
  getLastActiveTraceId,
  init,
  SpanType,
  ThreadlineClient,
  trace,
  traceContextHeaders,
  tracingContext,
  updateCurrentTrace,
  withSpan,
} from '@threadline/tracing';
import { withCallee } from './support/callee-service.js';
import { FlakyProxy } from './support/flaky-proxy.js';
import { recordingLogger } from './support/sdk-setup.js';
import { startTrackingServer, type TestTrackingServer } from './support/tracking-server.js';

// The OTLP exporter end to end: Threadline traces as OTLP/HTTP protobuf into a real server's
// POST /v1/traces, found again by the seed's filters with their spans, inputs and outputs.

type Message = { role: string; content: string };

let server: TestTrackingServer;
let proxy: FlakyProxy;
let client: ThreadlineClient;
let experimentId: string;
const logger = recordingLogger();

beforeAll(async () => {
  server = await startTrackingServer();
  proxy = new FlakyProxy(server.url);
  await proxy.start();
  experimentId = await new ThreadlineClient({ trackingUri: server.url }).createExperiment('otlp-e2e');
  // Through the proxy, to play outages below; it forwards x-mlflow-experiment-id.
  init({ trackingUri: proxy.url, experimentId, exporter: 'otlp', scheduledDelayMillis: 10, initialBackoffMillis: 5, maxBackoffMillis: 20, maxExportAttempts: 10_000, logger });
  client = new ThreadlineClient({ trackingUri: server.url, experimentId });
});
afterAll(async () => {
  await proxy?.stop();
  await server?.close();
});

const SEED_FILTER = "metadata.`mlflow.trace.user` = 'user-123' AND metadata.`mlflow.trace.session` = 'session-abc-456'";

const generateResponse = trace(
  async (messages: Message[]) => {
    await sleep(1);
    withSpan((span) => span.setAttribute('mlflow.chat.tokenUsage', { input_tokens: 5, output_tokens: 2, total_tokens: 7 }), { name: 'usage', spanType: SpanType.LLM });
    return { choices: [{ message: { role: 'assistant', content: `echo: ${messages[messages.length - 1]!.content}` } }] };
  },
  { name: 'Completions', spanType: SpanType.LLM },
);
const chatCompletion = trace(
  async (messages: Message[], userId: string, sessionId: string) => {
    updateCurrentTrace({ metadata: { 'mlflow.trace.user': userId, 'mlflow.trace.session': sessionId }, tags: { env: 'test' } });
    const response = await generateResponse(messages);
    return response.choices[0]!.message.content;
  },
  { name: 'chat_completion', spanType: SpanType.CHAIN },
);

describe('OTLP exporter against a real server', () => {
  it("sends the seed's chat trace over /v1/traces; it is found by the seed's filters, with its spans", async () => {
    const history: Message[] = [{ role: 'user', content: 'Hello, how are you?' }];
    const reply = await chatCompletion(history, 'user-123', 'session-abc-456');
    // Changed after the call: the trace keeps the state of the call.
    history.push({ role: 'assistant', content: reply });
    const traceId = getLastActiveTraceId()!;
    expect(await flushTraces()).toBe(true);
    expect(getExportStats()).toMatchObject({ exported: 1, failed: 0, dropped: 0 });

    for (const filter of ["metadata.`mlflow.trace.user` = 'user-123'", "metadata.`mlflow.trace.session` = 'session-abc-456'", SEED_FILTER, "tags.env = 'test'"]) {
      expect((await client.searchTraces({ filter })).traces.map((t) => t.traceId)).toEqual([traceId]);
    }
    const full = await client.getTrace(traceId);
    expect(full.info).toMatchObject({
      traceId,
      state: 'OK',
      // Over OTLP the server derives the previews from the root's inputs and outputs, as the SDK
      // does over REST: the last user message of a chat, not the inputs' JSON.
      requestPreview: 'Hello, how are you?',
      responsePreview: 'echo: Hello, how are you?',
      traceLocation: { mlflowExperiment: { experimentId } },
    });
    expect(full.info.traceMetadata).toMatchObject({ 'mlflow.trace.user': 'user-123', 'mlflow.trace.session': 'session-abc-456' });
    expect(JSON.parse(full.info.traceMetadata['mlflow.trace.tokenUsage']!)).toMatchObject({ input_tokens: 5, output_tokens: 2, total_tokens: 7 });
    expect(full.data.spans.map((s) => [s.name, s.spanType])).toEqual([
      ['chat_completion', 'CHAIN'],
      ['Completions', 'LLM'],
      ['usage', 'LLM'],
    ]);
    const [root, llm] = full.data.spans;
    expect(root!.parentId).toBeNull();
    expect(llm!.parentId).toBe(root!.spanId);
    expect(root!.inputs).toEqual({ messages: [{ role: 'user', content: 'Hello, how are you?' }], userId: 'user-123', sessionId: 'session-abc-456' });
    expect(root!.outputs).toBe('echo: Hello, how are you?');
    expect(llm!.outputs).toEqual({ choices: [{ message: { role: 'assistant', content: 'echo: Hello, how are you?' } }] });
    expect(root!.getAttribute('session.id')).toBe('session-abc-456');
    expect(root!.getAttribute('user.id')).toBe('user-123');
  });

  it('sessions built from OTLP traces (user and session from the tracing context)', async () => {
    for (const content of ['one', 'two']) {
      await tracingContext({ user: 'otlp-user', sessionId: 'otlp-session' }, () => chatCompletion([{ role: 'user', content }], 'otlp-user', 'otlp-session'));
      await sleep(2);
    }
    expect(await flushTraces()).toBe(true);
    const { sessions } = await client.searchSessions({ filter: "session_id = 'otlp-session'" });
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ userIds: ['otlp-user'], traceCount: 2, totalTokens: 14, lastResponsePreview: 'echo: two' });
    expect(sessions[0]!.firstRequestPreview).toBe('one');
  });

  it('retries through a server answering 500 and refusing connections, then delivers every trace once', async () => {
    proxy.mode = 'error500';
    const before = getExportStats().exported;
    const work = trace((i: number) => i * 2, { name: 'during-outage' });
    for (let i = 0; i < 5; i++) expect(work(i)).toBe(i * 2);
    expect(await flushTraces({ timeoutMillis: 100 })).toBe(false);
    await proxy.stop();
    for (let i = 5; i < 8; i++) expect(work(i)).toBe(i * 2);
    expect(await flushTraces({ timeoutMillis: 100 })).toBe(false);
    expect(getExportStats().retries).toBeGreaterThan(0);
    proxy.mode = 'pass';
    await proxy.start();
    expect(await flushTraces({ timeoutMillis: 10_000 })).toBe(true);
    expect(getExportStats()).toMatchObject({ exported: before + 8, failed: 0, dropped: 0 });
    const { traces } = await client.searchTraces({ filter: "attributes.name = 'during-outage'", maxResults: 50 });
    expect(traces).toHaveLength(8);
    expect(logger.messages.filter((m) => m.message.includes('(server-error)'))).toHaveLength(1);
  });

  it("a trace continued by another service (W3C traceparent) is one trace on the server: the callee's spans under the caller's", async () => {
    await withCallee(async (url) => {
      const ask = trace(async (q: string) => (await fetch(`${url}/search?q=${q}`, { headers: traceContextHeaders() })).json(), { name: 'ask', spanType: SpanType.AGENT });
      expect(await tracingContext({ user: 'caller-user', sessionId: 'distributed' }, () => ask('otlp'))).toEqual(['doc about otlp']);
      const traceId = getLastActiveTraceId()!;
      expect(await flushTraces()).toBe(true);
      const full = await client.getTrace(traceId);
      expect(full.info).toMatchObject({ state: 'OK', traceMetadata: expect.objectContaining({ 'mlflow.trace.user': 'caller-user', 'mlflow.trace.session': 'distributed' }) });
      const byName = Object.fromEntries(full.data.spans.map((s) => [s.name, s]));
      expect(Object.keys(byName).sort()).toEqual(['ask', 'retrieve']);
      expect(byName.ask!.parentId).toBeNull();
      expect(byName.retrieve!.parentId).toBe(byName.ask!.spanId);
      expect(byName.retrieve!.outputs).toEqual(['doc about otlp']);
    });
  });
});
