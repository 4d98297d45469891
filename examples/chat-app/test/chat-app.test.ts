import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAIServer, type FakeOpenAIServer } from '@threadline/openai/fake-server';
import { flushTraces, getExportStats, init, silentLogger, SpanType, ThreadlineClient } from '@threadline/tracing';
// Tests only: the example reaches the server over HTTP; here it is started in-process.
import { startServer, type RunningServer } from '../../../packages/server/src/index.js';
import { createChatApp, listenChatApp, type RunningChatApp } from '../src/chat-app.js';
import { ConversationStore } from '../src/conversation-store.js';

let server: RunningServer;
let fake: FakeOpenAIServer;
let app: RunningChatApp;
let client: ThreadlineClient;

beforeAll(async () => {
  server = await startServer({ backendStoreUri: 'sqlite:///:memory:', port: 0 });
  fake = await startFakeOpenAIServer();
  const experimentId = await new ThreadlineClient({ trackingUri: server.url }).createExperiment('chat-app');
  init({ trackingUri: server.url, experimentId, scheduledDelayMillis: 10, logger: silentLogger });
  client = new ThreadlineClient({ trackingUri: server.url, experimentId });
  app = await listenChatApp(createChatApp({ openai: new OpenAI({ baseURL: fake.url, apiKey: 'fake-key', maxRetries: 0 }) }));
});
afterAll(async () => {
  await app?.close();
  await fake?.close();
  await server?.close();
});

async function post(body: string | undefined, headers: Record<string, string> = { 'Content-Type': 'application/json' }) {
  const reply = await fetch(`${app.url}/chat`, { method: 'POST', headers, ...(body !== undefined && { body }) });
  return { status: reply.status, body: (await reply.json()) as { response?: string; error?: string; message?: string } };
}

const byUser = async (user: string) => (await client.searchTraces({ filter: `metadata.\`mlflow.trace.user\` = '${user}'`, orderBy: ['timestamp_ms ASC'] })).traces;

describe('the chat app', () => {
  it('GET / answers a health message', async () => {
    const reply = await fetch(`${app.url}/`);
    expect(reply.status).toBe(200);
    expect(((await reply.json()) as { message: string }).message).toContain('POST /chat');
  });

  it("the seed's request: a trace with the user and session, the handler as root and the OpenAI call as its child", async () => {
    const reply = await post(JSON.stringify({ message: 'Hello, how are you?' }), { 'Content-Type': 'application/json', 'X-Session-ID': 'session-123', 'X-User-ID': 'user-456' });
    expect(reply.status).toBe(200);
    expect(reply.body.response).toContain('Hello, how are you?');
    expect(await flushTraces()).toBe(true);

    const [info] = await byUser('user-456');
    expect(info!.traceMetadata).toMatchObject({ 'mlflow.trace.user': 'user-456', 'mlflow.trace.session': 'session-123' });
    expect(info!.requestPreview).toBe('Hello, how are you?');
    expect(info!.responsePreview).toBe(reply.body.response);
    const { data } = await client.getTrace(info!.traceId);
    const [root, child] = data.spans;
    expect(data.spans).toHaveLength(2);
    expect(root).toMatchObject({ name: 'process_chat', spanType: SpanType.CHAIN, parentId: null });
    expect(root!.inputs).toEqual({ message: 'Hello, how are you?', userId: 'user-456', sessionId: 'session-123' });
    expect(child).toMatchObject({ name: 'Completions', spanType: SpanType.CHAT_MODEL, parentId: root!.spanId });
    expect(child!.attributes['mlflow.chat.tokenUsage']).toBeDefined();
  });

  it('a request without headers gets the default user and session', async () => {
    const reply = await post(JSON.stringify({ message: 'No headers here' }));
    expect(reply.status).toBe(200);
    expect(await flushTraces()).toBe(true);
    const traces = await byUser('default-user');
    expect(traces).toHaveLength(1);
    expect(traces[0]!.traceMetadata['mlflow.trace.session']).toBe('default-session');
  });

  it('a session is a multi-turn conversation: turns in order, each sending the growing history', async () => {
    const headers = { 'Content-Type': 'application/json', 'X-Session-ID': 'session-multi', 'X-User-ID': 'user-multi' };
    const said = ['First question', 'Second question', 'Third question'];
    const replies: string[] = [];
    for (const message of said) replies.push((await post(JSON.stringify({ message }), headers)).body.response!);
    // Another user in a session of the same name has a conversation of their own.
    await post(JSON.stringify({ message: 'Someone else' }), { ...headers, 'X-User-ID': 'user-other' });
    expect(replies[2]).toContain('turn 3');
    expect(await flushTraces()).toBe(true);

    const { traces } = await client.getSessionTraces('session-multi');
    const mine = traces.filter((t) => t.traceMetadata['mlflow.trace.user'] === 'user-multi');
    expect(mine.map((t) => t.requestPreview)).toEqual(said);
    const sent = await Promise.all(mine.map(async (t) => ((await client.getTrace(t.traceId)).data.spans.find((span) => span.name === 'Completions')!.inputs as { messages: { role: string; content: string }[] }).messages));
    expect(sent.map((messages) => messages.length)).toEqual([2, 4, 6]);
    expect(sent[2]).toEqual([
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: said[0] },
      { role: 'assistant', content: replies[0] },
      { role: 'user', content: said[1] },
      { role: 'assistant', content: replies[1] },
      { role: 'user', content: said[2] },
    ]);
    const other = traces.find((t) => t.traceMetadata['mlflow.trace.user'] === 'user-other')!;
    expect(((await client.getTrace(other.traceId)).data.spans.find((span) => span.name === 'Completions')!.inputs as { messages: unknown[] }).messages).toHaveLength(2);
  });

  it('a failing model call answers 502 and is traced as an error', async () => {
    const reply = await post(JSON.stringify({ message: 'Overloaded [[error:500]]' }), { 'Content-Type': 'application/json', 'X-User-ID': 'user-error' });
    expect(reply.status).toBe(502);
    expect(reply.body.message).toContain('500');
    expect(await flushTraces()).toBe(true);
    const [info] = await byUser('user-error');
    expect(info!.state).toBe('ERROR');
  });

  it('bad input is refused with a 400 and a clear message, and no trace', async () => {
    await flushTraces();
    const before = getExportStats().exported;
    const cases: [string | undefined, Record<string, string> | undefined, RegExp][] = [
      [undefined, {}, /JSON object/],
      // An empty JSON body parses as {}.
      ['', undefined, /no "message"/],
      ['{"message": "unterminated', undefined, /not valid JSON/],
      ['[1, 2]', undefined, /JSON object/],
      ['{}', undefined, /no "message"/],
      ['{"message": 42}', undefined, /must be a string, not a number/],
      ['{"message": null}', undefined, /must be a string, not null/],
      ['{"message": ["a"]}', undefined, /must be a string, not an array/],
      ['{"message": "   "}', undefined, /must not be empty/],
      [JSON.stringify({ message: 'x'.repeat(40 * 1024) }), undefined, /40960 bytes long; the limit is 32768/],
      ['message=hello', { 'Content-Type': 'application/x-www-form-urlencoded' }, /JSON object/],
    ];
    for (const [body, headers, message] of cases) {
      const reply = await post(body, headers);
      expect(reply.status, `${body}`).toBe(400);
      expect(reply.body.message, `${body}`).toMatch(message);
    }
    expect(await flushTraces()).toBe(true);
    expect(getExportStats().exported).toBe(before);
  });
});

describe('feedback from the end user', () => {
  const asUser = (user: string, session: string) => ({ 'Content-Type': 'application/json', 'X-User-ID': user, 'X-Session-ID': session });
  const sendFeedback = async (body: unknown, headers: Record<string, string>) => {
    const reply = await fetch(`${app.url}/feedback`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: reply.status, body: (await reply.json()) as { assessment_id?: string; error?: string; message?: string } };
  };

  it('answers /chat with the trace id, and records a thumbs-down with its comment as HUMAN feedback from that user', async () => {
    const chat = await post(JSON.stringify({ message: 'What is 6 x 7?' }), asUser('rater-1', 'rated-session'));
    const traceId = (chat.body as { trace_id?: string }).trace_id!;
    expect(traceId).toMatch(/^tr-[0-9a-f]{32}$/);
    const feedback = await sendFeedback({ trace_id: traceId, rating: 'down', comment: 'It should be 42.' }, asUser('rater-1', 'rated-session'));
    expect(feedback.status, JSON.stringify(feedback.body)).toBe(200);
    expect(feedback.body.assessment_id).toMatch(/^a-/);
    const [assessment] = (await client.getTraceInfo(traceId)).assessments as Record<string, unknown>[];
    expect(assessment).toMatchObject({
      assessment_name: 'user_satisfaction',
      feedback: { value: false },
      rationale: 'It should be 42.',
      source: { source_type: 'HUMAN', source_id: 'rater-1' },
      metadata: { session_id: 'rated-session' },
    });
    expect((await client.searchTraces({ filter: "feedback.user_satisfaction = 'false'" })).traces.map((t) => t.traceId)).toContain(traceId);
  });

  it("refuses feedback on another user's answer, and bad feedback, with a clear 4xx", async () => {
    const chat = await post(JSON.stringify({ message: 'Mine' }), asUser('owner', 's-own'));
    const traceId = (chat.body as { trace_id?: string }).trace_id!;
    expect((await sendFeedback({ trace_id: traceId, rating: 'down' }, asUser('intruder', 's-own'))).status).toBe(404);
    expect((await sendFeedback({ trace_id: traceId, rating: 'meh' }, asUser('owner', 's-own'))).status).toBe(400);
    expect((await sendFeedback({ trace_id: 5, rating: 'up' }, asUser('owner', 's-own'))).status).toBe(400);
    // Without a trace_id it rates the whole conversation: only one's own.
    expect((await sendFeedback({ rating: 'up' }, asUser('intruder', 's-own'))).status).toBe(404);
    await flushTraces();
    expect((await client.getTraceInfo(traceId)).assessments).toEqual([]);
  });
});

describe('a whole conversation rated', () => {
  it('records a rating without trace_id as feedback on the session, found by the sessions filter', async () => {
    const headers = { 'Content-Type': 'application/json', 'X-User-ID': 'whole-1', 'X-Session-ID': 'whole-session' };
    await post(JSON.stringify({ message: 'Plan my week' }), headers);
    const reply = await fetch(`${app.url}/feedback`, { method: 'POST', headers, body: JSON.stringify({ rating: 'down', comment: 'Too long.' }) });
    expect(reply.status).toBe(200);
    const [assessment] = await client.getSessionAssessments('whole-session');
    expect(assessment).toMatchObject({ name: 'conversation_satisfaction', feedback: { value: false }, rationale: 'Too long.', source: { sourceType: 'HUMAN', sourceId: 'whole-1' } });
    const { sessions } = await client.searchSessions({ filter: 'feedback.conversation_satisfaction.negative > 0' });
    expect(sessions.map((s) => s.sessionId)).toEqual(['whole-session']);
  });
});

describe('ConversationStore', () => {
  it('bounds the messages per conversation and the number of conversations', () => {
    const store = new ConversationStore({ maxConversations: 2, maxMessages: 4 });
    for (let i = 1; i <= 3; i++) store.append('u', 's1', `tr-${i}`, { role: 'user', content: `q${i}` }, { role: 'assistant', content: `a${i}` });
    expect(store.history('u', 's1').map((m) => m.content)).toEqual(['q2', 'a2', 'q3', 'a3']);
    store.append('u', 's2', undefined, { role: 'user', content: 'x' });
    store.append('u', 's1', undefined, { role: 'user', content: 'q4' });
    store.append('u', 's3', undefined, { role: 'user', content: 'y' });
    // s2 was the least recently used.
    expect(store.size).toBe(2);
    expect(store.history('u', 's2')).toEqual([]);
    expect(store.history('u', 's1')).toHaveLength(4);
  });
});
