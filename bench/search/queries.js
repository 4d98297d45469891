/**
 * The measured queries, each twice: through Threadline's real search code (the store methods the
 * HTTP routes call: filter parsed, compiled by Kysely, keyset-paged, traces loaded with metadata,
 * tags, assessments and their calls' cost) and written by hand as the best SQL for the indexes, on
 * the same database (SqliteHand here, PostgresHand in postgres.js). Both sides return the same
 * rows; run.js compares them first.
 */
import { EXPERIMENT_ID, sessionId, userId } from './dataset.js';
import { SATISFACTION } from './feedback.js';
import { COMMON_WORD, RARE_WORD } from './text.js';

const EXP = String(EXPERIMENT_ID);

/**
 * The hand-written side on SQLite: prepared better-sqlite3 statements, the best SQL for the
 * indexes. Every method answers rows as plain objects; `loadTraces` whole traces (row, metadata,
 * tags, feedback and expectations) by id, as the store returns them.
 */
export class SqliteHand {
  constructor(raw) {
    this.raw = raw;
    this.byCount = new Map();
    this.callsByCount = new Map();
    this.statements = {
      userTraces: raw.prepare(`SELECT trace_id FROM traces WHERE experiment_id = ? AND user_id = ?
        ORDER BY request_time DESC, trace_id ASC LIMIT 100`),
      sessionTraces: raw.prepare(`SELECT trace_id FROM traces WHERE experiment_id = ? AND session_id = ?
        ORDER BY request_time ASC, trace_id ASC LIMIT 100`),
      newestSessions: raw.prepare(`SELECT * FROM sessions WHERE experiment_id = ?
        ORDER BY last_time DESC, session_id ASC LIMIT 50`),
      // Walks the sessions newest first (sessions_exp_last_time), one primary-key probe of
      // feedback_rollups each, until 50 have a thumbs down.
      negativeSessions: raw.prepare(`SELECT s.* FROM sessions AS s WHERE s.experiment_id = ?
        AND EXISTS (SELECT 1 FROM feedback_rollups AS f WHERE f.experiment_id = s.experiment_id AND f.scope = 'session' AND f.key = s.session_id
          AND f.name = ? AND f.false_count > 0)
        ORDER BY s.last_time DESC, s.session_id ASC LIMIT 50`),
      sessionUsers: raw.prepare(`SELECT session_id, user_id FROM session_users WHERE experiment_id = ? AND session_id IN (SELECT value FROM json_each(?))
        ORDER BY session_id, user_id`),
      feedback: raw.prepare(`SELECT key, name, count, true_count, false_count, numeric_count, numeric_sum FROM feedback_rollups
        WHERE experiment_id = ? AND scope = ? AND key IN (SELECT value FROM json_each(?)) AND count > 0 ORDER BY key, name`),
      topUsers: raw.prepare(`SELECT * FROM users WHERE experiment_id = ?
        ORDER BY trace_count DESC, last_time DESC, user_id ASC LIMIT 50`),
      // The cost orders: users_exp_cost / sessions_exp_cost read backwards, ties on cost sorted.
      // The limit is bound, as Kysely binds it: with a constant LIMIT 50 this SQLite (3.53, no
      // ANALYZE) sorts the whole experiment's rows instead (12 ms for users, 30 ms for sessions
      // at 1M), since these indexes give only the first of the three sort terms.
      costliestUsers: raw.prepare(`SELECT * FROM users WHERE experiment_id = ?
        ORDER BY cost_nanos DESC, last_time DESC, user_id ASC LIMIT ?`),
      costliestSessions: raw.prepare(`SELECT * FROM sessions WHERE experiment_id = ?
        ORDER BY cost_nanos DESC, last_time DESC, session_id ASC LIMIT ?`),
      // Word search, written knowing how often the word comes (prefix queries as the server
      // writes them, fts5Query). A rare word: the FTS5 index gives the matching documents, their
      // traces are looked up by primary key and sorted (`+`: not by walking the time index). A
      // common word: the traces are walked newest first, each one's documents looked up in the
      // match list, built once (`+d.doc_id`: not probed per key).
      rareWordTraces: raw.prepare(`SELECT t.trace_id FROM traces AS t WHERE +t.experiment_id = ? AND t.trace_key IN (SELECT d.trace_key FROM trace_text_docs AS d
        WHERE d.doc_id IN (SELECT rowid FROM trace_text_index WHERE trace_text_index MATCH ?)) ORDER BY t.request_time DESC, t.trace_id ASC LIMIT 50`),
      commonWordTraces: raw.prepare(`SELECT t.trace_id FROM traces AS t WHERE t.experiment_id = ? AND EXISTS (SELECT 1 FROM trace_text_docs AS d
        WHERE d.trace_key = t.trace_key AND +d.doc_id IN (SELECT rowid FROM trace_text_index WHERE trace_text_index MATCH ?)) ORDER BY t.request_time DESC, t.trace_id ASC LIMIT 50`),
      commonWordSessions: raw.prepare(`SELECT s.* FROM sessions AS s WHERE s.experiment_id = ? AND EXISTS (SELECT 1 FROM traces AS t
        WHERE t.experiment_id = s.experiment_id AND t.session_id = s.session_id AND EXISTS (SELECT 1 FROM trace_text_docs AS d
          WHERE d.trace_key = t.trace_key AND +d.doc_id IN (SELECT rowid FROM trace_text_index WHERE trace_text_index MATCH ?)))
        ORDER BY s.last_time DESC, s.session_id ASC LIMIT 50`),
      tagLike: raw.prepare(`SELECT t.trace_id FROM traces AS t WHERE t.experiment_id = ?
        AND EXISTS (SELECT 1 FROM trace_tags AS kv WHERE kv.trace_key = t.trace_key AND kv.key = 'x' AND kv.value LIKE 'abc%')
        ORDER BY t.request_time DESC, t.trace_id ASC LIMIT 100`),
    };
  }

  userTraces(experimentId, user) {
    return this.statements.userTraces.all(experimentId, user);
  }
  sessionTraces(experimentId, session) {
    return this.statements.sessionTraces.all(experimentId, session);
  }
  newestSessions(experimentId) {
    return this.statements.newestSessions.all(experimentId);
  }
  negativeSessions(experimentId, name) {
    return this.statements.negativeSessions.all(experimentId, name);
  }
  sessionUsers(experimentId, sessionIds) {
    return this.statements.sessionUsers.all(experimentId, JSON.stringify(sessionIds));
  }
  feedback(experimentId, scope, keys) {
    return this.statements.feedback.all(experimentId, scope, JSON.stringify(keys));
  }
  topUsers(experimentId) {
    return this.statements.topUsers.all(experimentId);
  }
  costliestUsers(experimentId) {
    return this.statements.costliestUsers.all(experimentId, 50);
  }
  costliestSessions(experimentId) {
    return this.statements.costliestSessions.all(experimentId, 50);
  }
  wordTraces(experimentId, word, common) {
    return this.statements[common ? 'commonWordTraces' : 'rareWordTraces'].all(experimentId, `"${word}"*`);
  }
  commonWordSessions(experimentId, word) {
    return this.statements.commonWordSessions.all(experimentId, `"${word}"*`);
  }
  tagLike(experimentId) {
    return this.statements.tagLike.all(experimentId);
  }

  loadTraces(ids) {
    if (ids.length === 0) return [];
    let statements = this.byCount.get(ids.length);
    if (!statements) {
      const list = ids.map(() => '?').join(',');
      statements = {
        rows: this.raw.prepare(`SELECT * FROM traces WHERE trace_id IN (${list})`),
        metadata: this.raw.prepare(`SELECT t.trace_id, kv.key, kv.value FROM trace_metadata AS kv JOIN traces AS t ON t.trace_key = kv.trace_key WHERE t.trace_id IN (${list})`),
        tags: this.raw.prepare(`SELECT t.trace_id, kv.key, kv.value FROM trace_tags AS kv JOIN traces AS t ON t.trace_key = kv.trace_key WHERE t.trace_id IN (${list})`),
        assessments: this.raw.prepare(`${ASSESSMENTS} IN (${list}) ${ASSESSMENTS_ORDER}`),
      };
      this.byCount.set(ids.length, statements);
    }
    const rows = statements.rows.all(ids);
    return assembleTraces(ids, rows, statements.metadata.all(ids), statements.tags.all(ids), statements.assessments.all(ids), this.calls(pricedIds(rows)));
  }

  /** The calls of traces that have a cost, as the store reads them for their cost parts. */
  calls(ids) {
    if (ids.length === 0) return [];
    let statement = this.callsByCount.get(ids.length);
    if (!statement) this.callsByCount.set(ids.length, (statement = this.raw.prepare(`SELECT c.*, t.trace_id FROM llm_calls AS c JOIN traces AS t ON t.trace_key = c.trace_key WHERE t.trace_id IN (${ids.map(() => '?').join(',')})`)));
    return statement.all(ids);
  }
}

/** A page of traces' assessments as the store loads them (assessment-rows.ts loadAssessments), but for the id list that ends the query. */
export const ASSESSMENTS = `SELECT * FROM assessments WHERE kind IN ('feedback', 'expectation') AND trace_id`;
export const ASSESSMENTS_ORDER = 'ORDER BY create_time ASC, assessment_id ASC';

/** Ids of the traces among `rows` that have a cost: the store reads only their calls. */
export const pricedIds = (rows) => rows.filter((r) => r.cost_nanos !== null).map((r) => r.trace_id);

/**
 * Whole traces in the order of `ids`, from their rows, metadata, tags, assessments (their content
 * parsed) and LLM calls, with the cost the store answers: the sum of the counted priced calls.
 */
export function assembleTraces(ids, rows, metadata, tags, assessments, calls) {
  const byId = new Map(rows.map((r) => [r.trace_id, { ...r, metadata: {}, tags: {}, assessments: [], calls: [] }]));
  for (const m of metadata) byId.get(m.trace_id).metadata[m.key] = m.value;
  for (const t of tags) byId.get(t.trace_id).tags[t.key] = t.value;
  for (const a of assessments) byId.get(a.trace_id).assessments.push({ ...a, content: JSON.parse(a.content) });
  for (const c of calls) byId.get(c.trace_id).calls.push(c);
  return ids.map((id) => {
    const trace = byId.get(id);
    const priced = trace.calls.filter((c) => Number(c.counted) && c.cost_source !== null);
    return { ...trace, cost: priced.length === 0 ? null : priced.reduce((sum, c) => sum + Number(c.cost_nanos), 0) / 1e9 };
  });
}

/** A page of traces as both sides compare it: each trace's id, its cost and its assessments' ids. */
const threadlineTraces = (page) => page.traces.map((t) => `${t.traceId}:${t.cost?.total_cost ?? null}:${t.assessments.map((a) => a.assessmentId).join(',')}`);
const handTraces = (traces) => traces.map((t) => `${t.trace_id}:${t.cost}:${t.assessments.map((a) => a.assessment_id).join(',')}`);

/** Feedback rollup rows as `{ key: { name: summary } }`, the shape of the store's `feedback` (feedback-summaries.ts). */
function feedbackByKey(rows) {
  const out = new Map();
  for (const r of rows) {
    const byName = out.get(r.key) ?? {};
    byName[r.name] = { count: r.count, positive: r.true_count, negative: r.false_count, numericCount: r.numeric_count, numericSum: r.numeric_sum };
    out.set(r.key, byName);
  }
  return out;
}

/** A page of sessions as both sides compare it: id, cost, users (the first 20) and feedback. */
const sessionLine = (id, costNanos, userIds, feedback) => `${id}:${costNanos}:${userIds.join(',')}:${JSON.stringify(feedback ?? {})}`;

/** The hand side of a sessions page: its rows, then their users and feedback, as the store reads them. */
async function handSessions(hand, rows) {
  const ids = rows.map((r) => r.session_id);
  const users = new Map();
  for (const link of await hand.sessionUsers(EXPERIMENT_ID, ids)) {
    const list = users.get(link.session_id) ?? [];
    if (list.length < 20) list.push(link.user_id);
    users.set(link.session_id, list);
  }
  const feedback = feedbackByKey(await hand.feedback(EXPERIMENT_ID, 'session', ids));
  return rows.map((r) => sessionLine(r.session_id, Number(r.cost_nanos), users.get(r.session_id) ?? [], feedback.get(r.session_id)));
}

/**
 * @param {import('../../packages/server/dist/index.js').KyselyTraceStore} store
 * @param {SqliteHand | import('./postgres.js').PostgresHand} hand the same queries by hand; its
 *   methods may answer directly (SQLite) or by promise (PostgreSQL)
 * @param {{ users: number, sessions: number }} sizes
 */
export function searchQueries(store, hand, sizes) {
  const threadlineSessions = (page) => page.sessions.map((s) => sessionLine(s.sessionId, s.costNanos, s.userIds, s.feedback));
  // Spread over the population, the same for both sides of an iteration.
  const pickUser = (i) => userId((i * 7919) % sizes.users);
  const pickSession = (i) => sessionId((i * 104_729) % sizes.sessions);

  return [
    {
      name: "a user's newest 100 traces",
      how: "`searchTraces`, filter ``metadata.`mlflow.trace.user` = 'u'``",
      threadline: async (i) =>
        threadlineTraces(await store.searchTraces({ experimentIds: [EXP], filter: `metadata.\`mlflow.trace.user\` = '${pickUser(i)}'`, maxResults: 100 })),
      hand: async (i) => handTraces(await hand.loadTraces((await hand.userTraces(EXPERIMENT_ID, pickUser(i))).map((r) => r.trace_id))),
    },
    {
      name: "one session's traces",
      how: '`getSessionTraces` (the turns endpoint), oldest first',
      threadline: async (i) => threadlineTraces(await store.getSessionTraces({ experimentId: EXP, sessionId: pickSession(i), maxResults: 100 })),
      hand: async (i) => handTraces(await hand.loadTraces((await hand.sessionTraces(EXPERIMENT_ID, pickSession(i))).map((r) => r.trace_id))),
    },
    {
      name: 'sessions list, newest 50',
      how: '`searchSessions`, default order, with user ids and feedback',
      threadline: async () => threadlineSessions(await store.searchSessions({ experimentId: EXP, maxResults: 50 })),
      hand: async () => handSessions(hand, await hand.newestSessions(EXPERIMENT_ID)),
    },
    {
      name: 'sessions with negative feedback, newest 50',
      how: `\`searchSessions\`, filter \`feedback.${SATISFACTION}.negative > 0\`, default order`,
      threadline: async () => threadlineSessions(await store.searchSessions({ experimentId: EXP, filter: `feedback.${SATISFACTION}.negative > 0`, maxResults: 50 })),
      hand: async () => handSessions(hand, await hand.negativeSessions(EXPERIMENT_ID, SATISFACTION)),
    },
    {
      name: 'users list, top 50 by traces',
      how: "`searchUsers`, order_by `traces DESC`, with feedback",
      threadline: async () =>
        (await store.searchUsers({ experimentId: EXP, orderBy: ['traces DESC'], maxResults: 50 })).users.map((u) => `${u.userId}:${JSON.stringify(u.feedback)}`),
      hand: async () => {
        const rows = await hand.topUsers(EXPERIMENT_ID);
        const feedback = feedbackByKey(await hand.feedback(EXPERIMENT_ID, 'user', rows.map((u) => u.user_id)));
        return rows.map((u) => `${u.user_id}:${JSON.stringify(feedback.get(u.user_id) ?? {})}`);
      },
    },
    {
      name: 'users ordered by cost, top 50',
      how: '`searchUsers`, order_by `cost DESC`, with feedback',
      threadline: async () =>
        (await store.searchUsers({ experimentId: EXP, orderBy: ['cost DESC'], maxResults: 50 })).users.map((u) => `${u.userId}:${u.costNanos}:${JSON.stringify(u.feedback)}`),
      hand: async () => {
        const rows = await hand.costliestUsers(EXPERIMENT_ID);
        const feedback = feedbackByKey(await hand.feedback(EXPERIMENT_ID, 'user', rows.map((u) => u.user_id)));
        return rows.map((u) => `${u.user_id}:${Number(u.cost_nanos)}:${JSON.stringify(feedback.get(u.user_id) ?? {})}`);
      },
    },
    {
      name: 'sessions ordered by cost, top 50',
      how: '`searchSessions`, order_by `cost DESC`, with user ids and feedback',
      threadline: async () => threadlineSessions(await store.searchSessions({ experimentId: EXP, orderBy: ['cost DESC'], maxResults: 50 })),
      hand: async () => handSessions(hand, await hand.costliestSessions(EXPERIMENT_ID)),
    },
    ...[
      [COMMON_WORD, '~2% of turns', true],
      [RARE_WORD, '~0.02% of turns', false],
    ].map(([word, share, common]) => ({
      name: `word search '${word}' (${share}), newest 50 traces`,
      how: `\`searchTraces\`, filter \`trace.text MATCH '${word}'\``,
      threadline: async () => threadlineTraces(await store.searchTraces({ experimentIds: [EXP], filter: `trace.text MATCH '${word}'`, maxResults: 50 })),
      hand: async () => handTraces(await hand.loadTraces((await hand.wordTraces(EXPERIMENT_ID, word, common)).map((r) => r.trace_id))),
    })),
    {
      name: `sessions that mention '${COMMON_WORD}', newest 50`,
      how: `\`searchSessions\`, filter \`trace.text MATCH '${COMMON_WORD}'\`, with user ids and feedback`,
      threadline: async () => threadlineSessions(await store.searchSessions({ experimentId: EXP, filter: `trace.text MATCH '${COMMON_WORD}'`, maxResults: 50 })),
      hand: async () => handSessions(hand, await hand.commonWordSessions(EXPERIMENT_ID, COMMON_WORD)),
    },
    {
      name: "tag LIKE 'abc%', newest 100",
      how: "`searchTraces`, filter `tags.x LIKE 'abc%'`",
      threadline: async () => threadlineTraces(await store.searchTraces({ experimentIds: [EXP], filter: "tags.x LIKE 'abc%'", maxResults: 100 })),
      hand: async () => handTraces(await hand.loadTraces((await hand.tagLike(EXPERIMENT_ID)).map((r) => r.trace_id))),
    },
  ];
}
