import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  flushTraces,
  getExportStats,
  getLastActiveTraceId,
  init,
  MlflowClient,
  SpanType,
  ThreadlineClient,
  trace,
  traceContextHeaders,
  tracingContext,
  updateCurrentTrace,
  withSpan,
} from '@threadline/tracing';
import { withCallee } from './support/callee-service.js';
import { recordingLogger } from './support/sdk-setup.js';
import { startTrackingServer, type TestTrackingServer } from './support/tracking-server.js';

let server: TestTrackingServer;
let client: ThreadlineClient;
let experimentId: string;
const logger = recordingLogger();

beforeAll(async () => {
  server = await startTrackingServer();
  // The experiment is given by name: resolved (and created) lazily, at the first export.
  init({ trackingUri: server.url, experimentName: 'seed-chat-app', scheduledDelayMillis: 10, logger });
  client = new ThreadlineClient({ trackingUri: server.url });
});
afterAll(async () => {
  await server?.close();
});

const SEED_FILTER = "metadata.`mlflow.trace.user` = 'user-123' AND metadata.`mlflow.trace.session` = 'session-abc-456'";

/** The seed's chat handler, in TypeScript: updateCurrentTrace with the user and session. */
const generateResponse = trace(
  async (messages: { role: string; content: string }[]) => {
    await sleep(1);
    const last = messages[messages.length - 1]!.content;
    return { choices: [{ message: { role: 'assistant', content: `echo: ${last}` } }], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } };
  },
  { name: 'Completions', spanType: SpanType.LLM },
);
const chatCompletion = trace(
  async (message: { role: string; content: string }[], userId: string, sessionId: string) => {
    updateCurrentTrace({ metadata: { 'mlflow.trace.user': userId, 'mlflow.trace.session': sessionId } });
    const response = await generateResponse(message);
    return response.choices[0]!.message.content;
  },
  { name: 'chat_completion', spanType: SpanType.CHAIN },
);

describe('end to end against a real threadline server', () => {
  it("logs the seed's chat trace and finds it by the seed's filters", async () => {
    const reply = await chatCompletion([{ role: 'user', content: 'Hello, how are you?' }], 'user-123', 'session-abc-456');
    expect(reply).toBe('echo: Hello, how are you?');
    const traceId = getLastActiveTraceId()!;
    expect(await flushTraces()).toBe(true);
    expect(getExportStats()).toMatchObject({ exported: 1, dropped: 0, failed: 0 });

    // The experiment was created by name at the first export.
    const byName = await fetch(`${server.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=seed-chat-app`);
    experimentId = ((await byName.json()) as { experiment: { experiment_id: string } }).experiment.experiment_id;
    const search = new ThreadlineClient({ trackingUri: server.url, experimentId });
    for (const filter of ["metadata.`mlflow.trace.user` = 'user-123'", "metadata.`mlflow.trace.session` = 'session-abc-456'", SEED_FILTER]) {
      const { traces } = await search.searchTraces({ filter });
      expect(traces.map((t) => t.traceId)).toEqual([traceId]);
    }
    const info = await client.getTraceInfo(traceId);
    expect(info).toMatchObject({
      traceId,
      state: 'OK',
      requestPreview: 'Hello, how are you?',
      responsePreview: 'echo: Hello, how are you?',
      traceLocation: { type: 'MLFLOW_EXPERIMENT', mlflowExperiment: { experimentId } },
    });
    expect(info.traceMetadata).toMatchObject({ 'mlflow.trace.user': 'user-123', 'mlflow.trace.session': 'session-abc-456', 'mlflow.trace_schema.version': '3' });

    const full = await client.getTrace(traceId);
    expect(full.data.spans.map((s) => [s.name, s.spanType])).toEqual([
      ['chat_completion', 'CHAIN'],
      ['Completions', 'LLM'],
    ]);
    const [root, llm] = full.data.spans;
    expect(root!.parentId).toBeNull();
    expect(llm!.parentId).toBe(root!.spanId);
    expect(root!.traceId).toBe(traceId);
    expect(root!.inputs).toEqual({ message: [{ role: 'user', content: 'Hello, how are you?' }], userId: 'user-123', sessionId: 'session-abc-456' });
    expect(root!.outputs).toBe('echo: Hello, how are you?');
    expect(root!.endTime).not.toBeNull();
  });

  it('keeps 50 interleaved requests of different users and sessions apart', async () => {
    const handle = trace(
      async (userId: string, sessionId: string, turn: number) => {
        // Awaits, timers and nested spans interleave the requests.
        await sleep((turn * 7) % 5);
        await new Promise((resolve) => setTimeout(resolve, turn % 3));
        return withSpan(async () => {
          await sleep(turn % 2);
          return `${userId}/${sessionId}/${turn}`;
        }, { name: 'step' });
      },
      { name: 'request' },
    );
    const requests = Array.from({ length: 50 }, (_, turn) => {
      const user = `user-${turn % 5}`;
      const session = `session-${turn % 10}`;
      // Half set the user and session through tracingContext (as the middleware does), half inside.
      if (turn % 2 === 0) return tracingContext({ user, sessionId: session }, () => handle(user, session, turn));
      return withSpan(async () => {
        updateCurrentTrace({ user, sessionId: session });
        return handle(user, session, turn);
      }, { name: 'request-root' });
    });
    const results = await Promise.all(requests);
    expect(results[7]).toBe('user-2/session-7/7');
    expect(await flushTraces()).toBe(true);

    const search = new ThreadlineClient({ trackingUri: server.url, experimentId });
    for (let session = 0; session < 10; session++) {
      const user = `user-${session % 5}`;
      const { traces } = await search.searchTraces({ filter: `metadata.\`mlflow.trace.user\` = '${user}' AND metadata.\`mlflow.trace.session\` = 'session-${session}'` });
      expect(traces).toHaveLength(5);
      for (const info of traces) {
        // The outputs name the user and session the request really had.
        expect(info.responsePreview).toMatch(new RegExp(`^"?${user}/session-${session}/\\d+"?$`));
      }
    }
  });

  it('pages through search results, and edits tags after the fact (metadata stays)', async () => {
    const search = new MlflowClient({ trackingUri: server.url, experimentId });
    const first = await search.searchTraces({ filter: "metadata.`mlflow.trace.user` = 'user-0'", maxResults: 4, orderBy: ['timestamp_ms DESC'] });
    expect(first.traces).toHaveLength(4);
    expect(first.nextPageToken).toBeDefined();
    const second = await search.searchTraces({ filter: "metadata.`mlflow.trace.user` = 'user-0'", maxResults: 4, pageToken: first.nextPageToken! });
    expect(second.traces.length).toBeGreaterThan(0);
    const ids = [...first.traces, ...second.traces].map((t) => t.traceId);
    expect(new Set(ids).size).toBe(ids.length);

    const target = first.traces[0]!.traceId;
    await search.setTraceTag(target, 'reviewed', 'yes');
    expect((await search.getTraceInfo(target)).tags.reviewed).toBe('yes');
    expect((await search.searchTraces({ filter: "tags.reviewed = 'yes'" })).traces.map((t) => t.traceId)).toEqual([target]);
    await search.deleteTraceTag(target, 'reviewed');
    expect((await search.getTraceInfo(target)).tags.reviewed).toBeUndefined();
  });

  it('creates and deletes experiments', async () => {
    const id = await client.createExperiment('scratch', undefined, { team: 'sdk' });
    expect(id).toMatch(/^\d+$/);
    await client.deleteExperiment(id);
    const reply = await fetch(`${server.url}/api/2.0/mlflow/experiments/get?experiment_id=${id}`);
    expect(((await reply.json()) as { experiment: { lifecycle_stage: string } }).experiment.lifecycle_stage).toBe('deleted');
  });

  it('rejects client calls with the HTTP status and MLflow error code', async () => {
    await expect(client.getTraceInfo('tr-00000000000000000000000000000000')).rejects.toMatchObject({ name: 'ThreadlineRequestError', status: 404, errorCode: 'RESOURCE_DOES_NOT_EXIST' });
  });

  it("lists the seed's session and user with their rollups (more in e2e-sessions.test.ts)", async () => {
    const search = new ThreadlineClient({ trackingUri: server.url, experimentId });
    const { sessions } = await search.searchSessions({ filter: "session_id = 'session-abc-456'" });
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ sessionId: 'session-abc-456', userIds: ['user-123'], traceCount: 1, errorCount: 0, firstRequestPreview: 'Hello, how are you?', lastResponsePreview: 'echo: Hello, how are you?' });
    const { users } = await search.searchUsers({ filter: "user_id = 'user-123'" });
    expect(users).toHaveLength(1);
    expect(users[0]).toMatchObject({ userId: 'user-123', traceCount: 1, sessionCount: 1, errorCount: 0 });
    const turns = await search.getSessionTraces('session-abc-456');
    expect(turns.traces).toHaveLength(1);
    expect(turns.traces[0]!.traceMetadata['mlflow.trace.user']).toBe('user-123');
  });

  describe('across services (W3C traceparent), with the default REST exporter', () => {
    it("makes one trace of caller and callee: the callee's spans under the caller's span, the caller's info", async () => {
      await withCallee(async (url) => {
        const before = getExportStats();
        const ask = trace(async (q: string) => (await fetch(`${url}/search?q=${q}`, { headers: traceContextHeaders() })).json(), { name: 'ask', spanType: SpanType.AGENT });
        expect(await tracingContext({ user: 'caller-user', sessionId: 'distributed-rest' }, () => ask('rest'))).toEqual(['doc about rest']);
        const traceId = getLastActiveTraceId()!;
        expect(await flushTraces()).toBe(true);
        // Both halves delivered, neither refused: the callee's went over OTLP, without a trace info.
        expect(getExportStats()).toMatchObject({ exported: before.exported + 2, failed: before.failed, dropped: before.dropped });
        const full = await client.getTrace(traceId);
        expect(full.info).toMatchObject({ state: 'OK', requestPreview: '{"q":"rest"}', responsePreview: '["doc about rest"]' });
        expect(full.info.tags['mlflow.traceName']).toBe('ask');
        expect(full.info.traceMetadata).toMatchObject({ 'mlflow.trace.user': 'caller-user', 'mlflow.trace.session': 'distributed-rest' });
        const byName = Object.fromEntries(full.data.spans.map((s) => [s.name, s]));
        expect(Object.keys(byName).sort()).toEqual(['ask', 'retrieve']);
        expect(byName.ask!.parentId).toBeNull();
        expect(byName.retrieve!.parentId).toBe(byName.ask!.spanId);
        expect(byName.retrieve!.outputs).toEqual(['doc about rest']);
      });
    });

    it('a callee whose caller logs elsewhere (a gateway sent the traceparent) still reads as a finished trace', async () => {
      await withCallee(async (url) => {
        const [otelTraceId, gatewaySpan] = [randomBytes(16).toString('hex'), randomBytes(8).toString('hex')];
        const reply = await fetch(`${url}/search?q=gateway`, { headers: { traceparent: `00-${otelTraceId}-${gatewaySpan}-01`, 'X-User-ID': 'gateway-user' } });
        expect(await reply.json()).toEqual(['doc about gateway']);
        expect(await flushTraces()).toBe(true);
        const full = await client.getTrace(`tr-${otelTraceId}`);
        expect(full.info).toMatchObject({ state: 'OK', requestPreview: '{"query":"gateway"}', responsePreview: '["doc about gateway"]' });
        expect(full.info.tags['mlflow.traceName']).toBe('retrieve');
        expect(full.info.traceMetadata['mlflow.trace.user']).toBe('gateway-user');
        expect(full.data.spans.map((s) => [s.name, s.parentId])).toEqual([['retrieve', gatewaySpan]]);
      });
    });
  });
});
