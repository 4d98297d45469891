import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flushTraces, getExportStats, getLastActiveTraceId, init, SpanType, ThreadlineClient, trace, tracingContext, withSpan } from '@threadline/tracing';
import { recordingLogger } from './support/sdk-setup.js';
import { startTrackingServer, type TestTrackingServer } from './support/tracking-server.js';

// Sessions and users end to end: traces seeded through the SDK itself (tracingContext, as the
// middleware sets it), then read back through the client's searchSessions / searchUsers /
// getSessionTraces against a real server, with exact rollups.

type Message = { role: string; content: string };

let server: TestTrackingServer;
let client: ThreadlineClient;
/** Trace ids of each session's turns, oldest first. */
const turnsOf = new Map<string, string[]>();

const generate = trace(
  async (messages: Message[]) => {
    await sleep(1);
    // Every LLM call reports the same usage: rollups are then exact multiples of it.
    withSpan((span) => span.setAttribute('mlflow.chat.tokenUsage', { input_tokens: 10, output_tokens: 5, total_tokens: 15 }), { name: 'usage', spanType: SpanType.LLM });
    const last = messages[messages.length - 1]!.content;
    if (last === 'fail') throw new Error('the model failed');
    return `re: ${last}`;
  },
  { name: 'chat', spanType: SpanType.CHAIN },
);

/** One turn of `sessionId` by `user`; turns are apart in time so every ordering is strict. */
async function turn(user: string, sessionId: string, content: string, tags?: Record<string, string>): Promise<void> {
  await tracingContext({ user, sessionId, ...(tags && { tags }) }, () => generate([{ role: 'user', content }])).catch(() => {});
  turnsOf.set(sessionId, [...(turnsOf.get(sessionId) ?? []), getLastActiveTraceId()!]);
  await sleep(3);
}

beforeAll(async () => {
  server = await startTrackingServer();
  const setup = new ThreadlineClient({ trackingUri: server.url });
  const experimentId = await setup.createExperiment('sessions-e2e');
  init({ trackingUri: server.url, experimentId, scheduledDelayMillis: 10, logger: recordingLogger() });
  client = new ThreadlineClient({ trackingUri: server.url, experimentId });

  // Created in this order, so by last activity: s-carol-1, s-shared, s-bob-1, s-alice-2, s-alice-1.
  await turn('alice', 's-alice-1', 'hello');
  await turn('alice', 's-alice-1', 'fail');
  await turn('alice', 's-alice-1', 'bye');
  await turn('alice', 's-alice-2', 'again');
  await turn('bob', 's-bob-1', 'hi');
  await turn('bob', 's-bob-1', 'thanks');
  await turn('alice', 's-shared', 'shared question', { env: 'prod' });
  await turn('bob', 's-shared', 'shared answer');
  for (const content of ['one', 'two', 'three', 'four']) await turn('carol', 's-carol-1', content, { env: 'dev' });
  expect(await flushTraces()).toBe(true);
  expect(getExportStats()).toMatchObject({ exported: 12, dropped: 0, failed: 0 });
});
afterAll(async () => {
  await server?.close();
});

const ids = <T extends { sessionId?: string; userId?: string }>(items: T[]) => items.map((i) => i.sessionId ?? i.userId);

describe('sessions and users through the client, against a real server', () => {
  it('searchSessions lists every session with its exact rollup, newest activity first', async () => {
    const { sessions, nextPageToken } = await client.searchSessions();
    expect(ids(sessions)).toEqual(['s-carol-1', 's-shared', 's-bob-1', 's-alice-2', 's-alice-1']);
    expect(nextPageToken).toBeUndefined();
    const alice1 = sessions.find((s) => s.sessionId === 's-alice-1')!;
    const turns = turnsOf.get('s-alice-1')!;
    expect(alice1).toMatchObject({
      userIds: ['alice'],
      userCount: 1,
      traceCount: 3,
      errorCount: 1,
      inputTokens: 30,
      outputTokens: 15,
      totalTokens: 45,
      firstTraceId: turns[0],
      firstRequestPreview: 'hello',
      lastTraceId: turns[2],
      lastResponsePreview: 're: bye',
    });
    expect(alice1.durationMs).toBeGreaterThanOrEqual(alice1.lastTimeMs - alice1.firstTimeMs);
    expect(sessions.find((s) => s.sessionId === 's-shared')).toMatchObject({ userIds: ['alice', 'bob'], userCount: 2, traceCount: 2, errorCount: 0, totalTokens: 30 });
    expect(sessions.find((s) => s.sessionId === 's-carol-1')).toMatchObject({ userIds: ['carol'], traceCount: 4, totalTokens: 60, lastResponsePreview: 're: four' });
  });

  it('searchSessions filters by session fields and by trace clauses', async () => {
    const find = async (filter: string) => ids((await client.searchSessions({ filter })).sessions);
    expect(await find("user = 'alice'")).toEqual(['s-shared', 's-alice-2', 's-alice-1']);
    expect(await find('turns >= 2 AND errors = 0')).toEqual(['s-carol-1', 's-shared', 's-bob-1']);
    expect(await find('errors > 0')).toEqual(['s-alice-1']);
    expect(await find("tags.env = 'prod'")).toEqual(['s-shared']);
    expect(await find("user = 'bob' AND NOT tags.env = 'prod'")).toEqual(['s-bob-1']);
    expect(await find("session_id LIKE 's-alice-%'")).toEqual(['s-alice-2', 's-alice-1']);
  });

  it('searchSessions pages with the token, in a given order', async () => {
    const seen: string[][] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.searchSessions({ orderBy: ['turns DESC'], maxResults: 2, ...(pageToken && { pageToken }) });
      seen.push(ids(page.sessions) as string[]);
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
    expect(seen.map((page) => page.length)).toEqual([2, 2, 1]);
    // Ties (two turns) keep the default order: newest activity first.
    expect(seen.flat()).toEqual(['s-carol-1', 's-alice-1', 's-shared', 's-bob-1', 's-alice-2']);
  });

  it('getSessionTraces returns a session\'s turns oldest first, paged, and 404 for an unknown session', async () => {
    const { traces, nextPageToken } = await client.getSessionTraces('s-carol-1');
    expect(traces.map((t) => t.traceId)).toEqual(turnsOf.get('s-carol-1'));
    expect(nextPageToken).toBeUndefined();
    expect(traces.map((t) => t.requestPreview)).toEqual(['one', 'two', 'three', 'four']);
    expect(traces[0]!.traceMetadata).toMatchObject({ 'mlflow.trace.user': 'carol', 'mlflow.trace.session': 's-carol-1' });

    const first = await client.getSessionTraces('s-alice-1', { maxResults: 2 });
    expect(first.traces.map((t) => t.traceId)).toEqual(turnsOf.get('s-alice-1')!.slice(0, 2));
    expect(first.traces.map((t) => t.state)).toEqual(['OK', 'ERROR']);
    const second = await client.getSessionTraces('s-alice-1', { maxResults: 2, pageToken: first.nextPageToken! });
    expect(second.traces.map((t) => t.traceId)).toEqual(turnsOf.get('s-alice-1')!.slice(2));
    expect(second.nextPageToken).toBeUndefined();

    await expect(client.getSessionTraces('no-such-session')).rejects.toMatchObject({ name: 'ThreadlineRequestError', status: 404 });
  });

  it('searchUsers lists users with exact rollups, filters and pages', async () => {
    const { users } = await client.searchUsers();
    expect(ids(users)).toEqual(['carol', 'bob', 'alice']);
    expect(users.find((u) => u.userId === 'alice')).toMatchObject({ traceCount: 5, sessionCount: 3, errorCount: 1, inputTokens: 50, outputTokens: 25, totalTokens: 75 });
    expect(users.find((u) => u.userId === 'bob')).toMatchObject({ traceCount: 3, sessionCount: 2, errorCount: 0, totalTokens: 45 });
    expect(users.find((u) => u.userId === 'carol')).toMatchObject({ traceCount: 4, sessionCount: 1, errorCount: 0, totalTokens: 60 });

    expect(ids((await client.searchUsers({ filter: 'traces >= 4' })).users)).toEqual(['carol', 'alice']);
    expect(ids((await client.searchUsers({ filter: "sessions > 1 AND tags.env = 'prod'" })).users)).toEqual(['alice']);

    const pages: string[] = [];
    let pageToken: string | undefined;
    do {
      const page = await client.searchUsers({ orderBy: ['traces DESC'], maxResults: 1, ...(pageToken && { pageToken }) });
      pages.push(ids(page.users).join(','));
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
    // Keyset paging: a full page always carries a token, so the page after the last user is empty.
    expect(pages).toEqual(['alice', 'carol', 'bob', '']);
  });

  it('rejects a bad filter with 400 naming it', async () => {
    await expect(client.searchSessions({ filter: 'turns >' })).rejects.toMatchObject({ status: 400, errorCode: 'INVALID_PARAMETER_VALUE' });
  });
});
