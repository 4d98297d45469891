import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiError } from '../src/errors.js';
import type { TraceRecord } from '../src/trace-model.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';

interface Plan {
  session: string;
  user: string;
  time: number;
  error: boolean;
  tokens: number;
}

function record(experimentId: string, p: Plan): TraceRecord {
  return {
    traceId: newTraceId(),
    experimentId,
    clientRequestId: null,
    requestTimeMs: p.time,
    executionDurationMs: 10,
    state: p.error ? 'ERROR' : 'OK',
    requestPreview: null,
    responsePreview: null,
    metadata: {
      'mlflow.trace.session': p.session,
      'mlflow.trace.user': p.user,
      'mlflow.trace.tokenUsage': JSON.stringify({ input_tokens: p.tokens, output_tokens: 0, total_tokens: p.tokens }),
    },
    tags: { parity: p.tokens % 2 === 0 ? 'even' : 'odd' },
  };
}

/**
 * 40 sessions whose last times collide in groups of four (so that keyset pages must break ties on
 * the session id), 1 to 3 turns each, 7 users; and one crowded session with 25 users.
 */
const PLANS: Plan[] = [];
for (let s = 0; s < 40; s++) {
  const turns = 1 + (s % 3);
  for (let k = 0; k < turns; k++) {
    PLANS.push({ session: `s-${String(s).padStart(2, '0')}`, user: `u-${(s + k) % 7}`, time: 1000 * Math.floor(s / 4) + k - turns + 1, error: (s + k) % 5 === 0, tokens: s + k });
  }
}
for (let u = 0; u < 25; u++) PLANS.push({ session: 'crowd', user: `c-${String(u).padStart(2, '0')}`, time: 500 + u, error: false, tokens: 1 });

describeEachDatabase('sessions and users search in the store', (database) => {
  let db: TestStore;
  let experimentId: string;
  beforeAll(async () => {
    db = await database.open();
    experimentId = await db.store.createExperiment({ name: 'store-sessions' });
    for (const p of PLANS) expect((await db.store.startTrace(record(experimentId, p))).kind).toBe('created');
  });
  afterAll(async () => db?.close());

  /** Every page of a search, walked with its tokens. */
  async function walk(kind: 'sessions' | 'users', request: { filter?: string; orderBy?: string[] }, maxResults: number): Promise<string[]> {
    const out: string[] = [];
    let pageToken: string | undefined;
    for (let i = 0; i < 100; i++) {
      const base = { experimentId, maxResults, ...request, ...(pageToken ? { pageToken } : {}) };
      if (kind === 'sessions') {
        const page = await db.store.searchSessions(base);
        out.push(...page.sessions.map((s) => s.sessionId));
        pageToken = page.nextPageToken;
      } else {
        const page = await db.store.searchUsers(base);
        out.push(...page.users.map((u) => u.userId));
        pageToken = page.nextPageToken;
      }
      if (!pageToken) return out;
    }
    throw new Error('too many pages');
  }

  it.each([[undefined], [['turns DESC']], [['errors DESC', 'first_time ASC']], [['total_tokens ASC']], [['session_id DESC']]])(
    'walks sessions ordered by %j in pages of 7 with no gap or repeat',
    async (orderBy) => {
      const request = orderBy ? { orderBy } : {};
      const whole = await walk('sessions', request, 500);
      expect(whole).toHaveLength(41);
      expect(await walk('sessions', request, 7)).toEqual(whole);
    },
  );

  it('orders by last time, newest first, ties broken by session id', async () => {
    const last = new Map<string, number>();
    for (const p of PLANS) last.set(p.session, Math.max(last.get(p.session) ?? -Infinity, p.time));
    const expected = [...last.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([s]) => s);
    expect(await walk('sessions', {}, 5)).toEqual(expected);
  });

  it('walks filtered sessions and users in pages', async () => {
    const filter = "tags.parity = 'even' AND trace.status = 'OK'";
    const expected = new Set(PLANS.filter((p) => p.tokens % 2 === 0 && !p.error).map((p) => p.session));
    const sessions = await walk('sessions', { filter, orderBy: ['session_id'] }, 3);
    expect(sessions).toEqual([...expected].sort());
    const users = await walk('users', { filter, orderBy: ['traces DESC'] }, 2);
    expect(new Set(users)).toEqual(new Set(PLANS.filter((p) => p.tokens % 2 === 0 && !p.error).map((p) => p.user)));
    expect(users).toEqual(await walk('users', { filter, orderBy: ['traces DESC'] }, 500));
  });

  it("lists at most 20 of a session's users, sorted, and counts them all", async () => {
    const page = await db.store.searchSessions({ experimentId, maxResults: 1, filter: "session_id = 'crowd'" });
    const crowd = page.sessions[0]!;
    expect(crowd.userCount).toBe(25);
    expect(crowd.userIds).toEqual(Array.from({ length: 20 }, (_, u) => `c-${String(u).padStart(2, '0')}`));
    expect(crowd.traceCount).toBe(25);
    expect([crowd.firstTimeMs, crowd.lastTimeMs, crowd.lastEndTimeMs]).toEqual([500, 524, 534]);
  });

  it('matches the rollups computed from the plan', async () => {
    const users = await walk('users', { orderBy: ['user_id'] }, 500);
    expect(users).toEqual([...new Set(PLANS.map((p) => p.user))].sort());
    const page = await db.store.searchUsers({ experimentId, maxResults: 500, orderBy: ['user_id'] });
    for (const u of page.users) {
      const mine = PLANS.filter((p) => p.user === u.userId);
      expect([u.traceCount, u.errorCount, u.totalTokens, u.sessionCount, u.firstTimeMs, u.lastTimeMs]).toEqual([
        mine.length,
        mine.filter((p) => p.error).length,
        mine.reduce((n, p) => n + p.tokens, 0),
        new Set(mine.map((p) => p.session)).size,
        Math.min(...mine.map((p) => p.time)),
        Math.max(...mine.map((p) => p.time)),
      ]);
    }
  });

  it("pages a session's turns oldest first and knows missing sessions", async () => {
    const turns = PLANS.filter((p) => p.session === 'crowd').length;
    const seen: string[] = [];
    let pageToken: string | undefined;
    let pages = 0;
    do {
      // 25 turns in pages of 5: the fifth page is full, so a sixth, empty page follows (not a missing session).
      const page = await db.store.getSessionTraces({ experimentId, sessionId: 'crowd', maxResults: 5, ...(pageToken ? { pageToken } : {}) });
      expect(page).toBeDefined();
      seen.push(...page!.traces.map((t) => String(t.requestTimeMs)));
      pageToken = page!.nextPageToken;
      pages++;
    } while (pageToken);
    expect(pages).toBe(6);
    expect(seen).toEqual(Array.from({ length: turns }, (_, i) => String(500 + i)));
    expect(await db.store.getSessionTraces({ experimentId, sessionId: 'nope', maxResults: 10 })).toBeUndefined();
    expect(await db.store.getSessionTraces({ experimentId: '0', sessionId: 'crowd', maxResults: 10 })).toBeUndefined();
  });

  it('refuses a token from another search', async () => {
    const page = await db.store.searchSessions({ experimentId, maxResults: 2 });
    await expect(db.store.searchSessions({ experimentId, maxResults: 2, orderBy: ['turns'], pageToken: page.nextPageToken! })).rejects.toBeInstanceOf(ApiError);
    await expect(db.store.searchSessions({ experimentId: '0', maxResults: 2, pageToken: page.nextPageToken! })).rejects.toBeInstanceOf(ApiError);
  });
});
