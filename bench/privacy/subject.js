/**
 * The user the privacy benchmark erases: `traces` turns (2 to 5 spans each, some with an LLM call
 * with token usage) across about `sessions` conversations, written into a database that already
 * holds the search benchmark's dataset, through the server's own store code (ingestSpans,
 * createAssessment, createSessionAssessment), so every row and rollup is what the server itself
 * would have written. Some of the conversations are shared: a few of the dataset's own sessions
 * (which have their users) gain turns of the subject, and one of the subject's sessions has a turn
 * of a dataset user; those must keep their other users after the erase. Feedback: the subject's
 * thumbs on some of their turns, an LLM judge's score on others, the subject's thumbs on dataset
 * users' turns (erased as feedback the subject gave), and on some whole sessions.
 */
import { SpanAttributeKey, TraceMetadataKey } from '../../packages/protocol/dist/index.js';
import { hex, rng } from '../lib/random.js';

export const SUBJECT = 'privacy-subject';
const DAY_MS = 86_400_000;
/** The search dataset's first day (dataset.js T0): the subject's turns fall in its 30 days. */
const T0 = Date.UTC(2026, 9, 1);
/** Of the subject's sessions, this many are the dataset's own (shared with its users). */
const SHARED_DATASET_SESSIONS = 5;
/** Writes in flight: the store's group commit puts them in shared transactions. */
const IN_FLIGHT = 200;

const feedback = (name, value, source) => ({
  assessmentId: null,
  name,
  kind: 'feedback',
  value,
  error: null,
  spanId: null,
  source,
  rationale: null,
  metadata: {},
  overrides: null,
  createTimeMs: null,
  lastUpdateTimeMs: null,
});
const BY_SUBJECT = { sourceType: 'HUMAN', sourceId: SUBJECT };
const BY_JUDGE = { sourceType: 'LLM_JUDGE', sourceId: 'relevance-judge' };

/**
 * Writes the subject into the store (experiment `experimentId`). `datasetSessions`: ids of the
 * dataset's sessions to share (each has turns of its users already); `datasetUser`: a dataset
 * user who logs one turn into one of the subject's sessions.
 *
 * @param {import('../../packages/server/dist/index.js').KyselyTraceStore} store
 * @param {{ experimentId: string, traces: number, sessions: number, datasetSessions: string[], datasetUser: string, seed?: number }} o
 * @returns {Promise<{ traces: number, spans: number, llmSpans: number, sessions: number, assessmentsOnTurns: number, assessmentsGiven: number, sessionAssessments: number, ownSessions: number, sharedSessions: { sessionId: string, otherUsers: string[] }[] }>}
 */
export async function writeSubject(store, o) {
  const rand = rng(o.seed ?? 7);
  const shared = o.datasetSessions.slice(0, SHARED_DATASET_SESSIONS);
  const own = Array.from({ length: Math.max(1, o.sessions - shared.length) }, (_, i) => `privacy-s-${String(i).padStart(3, '0')}`);
  const sessions = [...own, ...shared];
  const counts = { traces: 0, spans: 0, llmSpans: 0, sessions: sessions.length, assessmentsOnTurns: 0, assessmentsGiven: 0, sessionAssessments: 0 };
  const starts = new Map(sessions.map((s) => [s, T0 + Math.floor(rand() * 29 * DAY_MS)]));
  const turnsSoFar = new Map();

  /** One turn of `user` in `session`; answers its trace id. */
  const turn = (user, session) => {
    const k = turnsSoFar.get(session) ?? 0;
    turnsSoFar.set(session, k + 1);
    const traceId = `tr-${hex(rand, 32)}`;
    const startMs = starts.get(session) + k * 30_000 + Math.floor(rand() * 10_000);
    const spans = turnSpans(rand, traceId, startMs, user);
    if (user === SUBJECT) {
      counts.spans += spans.length;
      counts.llmSpans += spans.filter((s) => s.type === 'LLM').length;
    }
    const fields = { metadata: { [TraceMetadataKey.USER]: user, [TraceMetadataKey.SESSION]: session }, tags: { channel: 'web' }, name: null };
    return { traceId, write: () => store.ingestSpans(o.experimentId, traceId, fields, spans) };
  };

  const subjectTurns = [];
  const pending = [];
  const flush = async () => {
    await Promise.all(pending.splice(0).map((t) => t.write()));
  };
  for (let i = 0; i < o.traces; i++) {
    const t = turn(SUBJECT, sessions[i % sessions.length]);
    subjectTurns.push(t.traceId);
    pending.push(t);
    if (pending.length === IN_FLIGHT) await flush();
  }
  // A dataset user's turn in one of the subject's own sessions: that session outlives the erase.
  const guestTurn = turn(o.datasetUser, own[0]);
  pending.push(guestTurn);
  await flush();
  counts.traces = o.traces;

  // Feedback on the subject's turns: their own thumbs on 10%, a judge's score on 5%.
  const writes = [];
  for (const [i, traceId] of subjectTurns.entries()) {
    if (i % 10 === 3) writes.push(() => store.createAssessment(traceId, feedback('user_satisfaction', rand() < 0.8, BY_SUBJECT)));
    if (i % 20 === 7) writes.push(() => store.createAssessment(traceId, feedback('relevance', 1 + Math.floor(rand() * 5), BY_JUDGE)));
  }
  counts.assessmentsOnTurns = writes.length;
  // Feedback the subject gave on other users' turns: the guest's, and a few in each shared session.
  const others = [guestTurn.traceId];
  for (const sessionId of shared) {
    const page = await store.getSessionTraces({ experimentId: o.experimentId, sessionId, maxResults: 50 });
    for (const t of page?.traces ?? []) if (t.userId !== SUBJECT && others.length < 1 + 3 * shared.length) others.push(t.traceId);
  }
  for (const traceId of others) writes.push(() => store.createAssessment(traceId, feedback('user_satisfaction', false, BY_SUBJECT)));
  counts.assessmentsGiven = others.length;
  // Whole sessions rated by the subject: three of their own, one of them shared with the guest.
  for (const sessionId of own.slice(0, 3)) {
    writes.push(() => store.createSessionAssessment({ experimentId: o.experimentId, sessionId }, feedback('resolved', rand() < 0.5, BY_SUBJECT)));
  }
  counts.sessionAssessments = 3;
  for (let i = 0; i < writes.length; i += IN_FLIGHT) await Promise.all(writes.slice(i, i + IN_FLIGHT).map((w) => w()));

  const sharedSessions = [
    { sessionId: own[0], otherUsers: [o.datasetUser] },
    ...(await Promise.all(
      shared.map(async (sessionId) => {
        const page = await store.getSessionTraces({ experimentId: o.experimentId, sessionId, maxResults: 500 });
        const users = new Set((page?.traces ?? []).map((t) => t.userId).filter((u) => u !== SUBJECT));
        return { sessionId, otherUsers: [...users].sort() };
      }),
    )),
  ];
  return { ...counts, ownSessions: own.length, sharedSessions };
}

/**
 * A CHAIN root and one to four children: an LLM call with token usage in 60% of turns, a
 * retriever, a tool, a parser. ~300 bytes of attributes each, some of them the user's words.
 */
function turnSpans(rand, traceId, startMs, user) {
  const rootId = hex(rand, 16);
  const durationMs = 300 + Math.floor(rand() * 3000);
  const ns = (ms) => BigInt(Math.round(ms * 1e6));
  const error = rand() < 0.02;
  const question = `question ${hex(rand, 6)} from ${user}: how do I change the plan of my account ${hex(rand, 8)}?`;
  const root = {
    spanId: rootId,
    parentSpanId: null,
    name: 'chat_turn',
    type: 'CHAIN',
    status: error ? 'ERROR' : 'OK',
    statusMessage: error ? 'upstream timeout' : '',
    startNs: ns(startMs),
    endNs: ns(startMs + durationMs),
    attributes: { [SpanAttributeKey.SPAN_TYPE]: 'CHAIN', [SpanAttributeKey.INPUTS]: { messages: [{ role: 'user', content: question }] }, [SpanAttributeKey.OUTPUTS]: { content: `answer ${hex(rand, 12)}` } },
    events: [],
  };
  const children = [];
  const child = (name, type, attributes) => {
    const at = startMs + (durationMs * (children.length + 1)) / 6;
    children.push({ spanId: hex(rand, 16), parentSpanId: rootId, name, type, status: 'OK', statusMessage: '', startNs: ns(at), endNs: ns(at + durationMs / 8), attributes: { [SpanAttributeKey.SPAN_TYPE]: type, ...attributes }, events: [] });
  };
  const extra = 1 + Math.floor(rand() * 4);
  if (rand() < 0.6) {
    const input = 200 + Math.floor(rand() * 800);
    const output = 30 + Math.floor(rand() * 300);
    child('openai.chat.completions.create', 'LLM', {
      [SpanAttributeKey.INPUTS]: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: question }] },
      [SpanAttributeKey.TOKEN_USAGE]: { input_tokens: input, output_tokens: output, total_tokens: input + output },
      [SpanAttributeKey.LLM_MODEL]: 'gpt-4o-mini',
      [SpanAttributeKey.LLM_PROVIDER]: 'openai',
    });
  }
  const rest = [
    ['retrieve_context', 'RETRIEVER', { [SpanAttributeKey.INPUTS]: { query: question, top_k: 2 } }],
    ['lookup_account', 'TOOL', { [SpanAttributeKey.INPUTS]: { user_id: user } }],
    ['format_answer', 'PARSER', { [SpanAttributeKey.OUTPUTS]: { markdown: `answer ${hex(rand, 12)}` } }],
  ];
  for (let i = 0; children.length < extra && i < rest.length; i++) child(...rest[i]);
  return [root, ...children];
}
