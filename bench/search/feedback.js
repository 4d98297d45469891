/**
 * The search benchmark's feedback: end users' thumbs up / down (`user_satisfaction`) on some turns
 * and on some whole sessions, a few changed afterwards (an override), and an LLM judge's numeric
 * `relevance` (1 to 5) on some turns; the `assessments` rows written with the server's own row format and
 * the `feedback_rollups` rows counted with the server's own rules (feedback-rollups.ts).
 *
 * Added to a database that has its traces, in a pass of its own over them with its own seed, so a
 * cached database without feedback (or with an older version of it) gains it without a rebuild:
 * the version is kept in the table `bench_feedback`. On small databases the rollups are checked
 * against the server's write path: the same assessments replayed through the store's API into a
 * copy without them must leave the same `feedback_rollups` rows.
 */
import Database from 'better-sqlite3';
import { TraceMetadataKey } from '../../packages/protocol/dist/index.js';
import { openSqliteStore } from '../../packages/server/dist/index.js';
import { assessmentRow, storedAssessmentOf } from '../../packages/server/dist/store/assessment-rows.js';
import { feedbackCounts, feedbackHourKey } from '../../packages/server/dist/store/feedback-rollups.js';
import { hex, rng } from '../lib/random.js';
import { ensureAddition, onCopy } from './additions.js';

/** Bump when the generated feedback changes, so cached databases get it anew. */
export const FEEDBACK_VERSION = 1;
/** The end users' thumbs: what the UI's "negative feedback" filter looks at. */
export const SATISFACTION = 'user_satisfaction';
const RELEVANCE = 'relevance';
/** Share of turns rated by their user, and of those ratings a thumbs down. */
export const RATED_SHARE = 0.1;
export const NEGATIVE_SHARE = 0.2;
/** Share of ratings changed a little later (the first stays, overridden: invalid). */
export const CHANGED_SHARE = 0.03;
/**
 * Share of turns scored by an LLM judge, 1 to 5: whole numbers, so their sums are exact whatever
 * order they are added in (the server adds them in time order, this file in trace order).
 */
export const JUDGED_SHARE = 0.05;
/** Share of sessions rated as a whole by their first turn's user, and of those a thumbs down. */
export const SESSION_RATED_SHARE = 0.03;
const SESSION_NEGATIVE_SHARE = 0.3;

/**
 * Gives the database at `path` its feedback unless it has this version of it already.
 * @param {{ path: string, experimentId: number, log: (line: string) => void, verify?: boolean }} o
 *   verify: check against the server's write path (default: when the database is small)
 */
export async function ensureFeedback({ path, experimentId, log, verify }) {
  const write = (db) => {
    const written = writeFeedback(db, experimentId);
    return { traces: written.traces, added: `${written.assessments.toLocaleString('en-US')} assessments and ${written.rollups.toLocaleString('en-US')} feedback_rollups rows` };
  };
  await ensureAddition({ path, table: 'bench_feedback', version: FEEDBACK_VERSION, write, check: verifyAgainstServer, log, verify });
}

/** One feedback as the store keeps it (trace-model.ts StoredAssessment). */
function feedback({ id, traceId = null, session = null, name, value, source, metadata = {}, overrides = null, valid = true, time }) {
  return { assessmentId: id, traceId, session, name, kind: 'feedback', value, error: null, spanId: null, source, rationale: null, metadata, overrides, valid, createTimeMs: time, lastUpdateTimeMs: time };
}

function writeFeedback(db, experimentId) {
  const turns = db
    .prepare(`SELECT trace_id, session_id, user_id, request_time, execution_duration FROM traces WHERE experiment_id = ? ORDER BY session_id, request_time, trace_id`)
    .raw()
    .all(experimentId);
  const sessionUsers = new Map();
  for (const [sid, uid] of db.prepare('SELECT session_id, user_id FROM session_users WHERE experiment_id = ? ORDER BY session_id, user_id').raw().iterate(experimentId)) {
    const list = sessionUsers.get(sid) ?? [];
    list.push(uid);
    sessionUsers.set(sid, list);
  }

  const rand = rng(4242);
  const newId = () => `a-${hex(rand, 32)}`;
  const assessments = [];
  const rollups = new Map();
  /** What feedback-rollups.ts FeedbackDeltas.addAssessment counts, with sign 1. */
  const count = (place, a) => {
    const counts = feedbackCounts(a);
    if (!counts) return;
    const keys = [...(place.sessionId === null ? [] : [['session', place.sessionId]]), ...place.userIds.map((u) => ['user', u]), ['hour', feedbackHourKey(a.createTimeMs)]];
    for (const [scope, key] of keys) {
      const id = `${scope}\u0000${key}\u0000${a.name}`;
      let row = rollups.get(id);
      if (!row) rollups.set(id, (row = { experiment_id: experimentId, scope, key, name: a.name, count: 0, true_count: 0, false_count: 0, numeric_count: 0, numeric_sum: 0 }));
      for (const c of ['count', 'true_count', 'false_count', 'numeric_count', 'numeric_sum']) row[c] += counts[c];
    }
  };
  const add = (place, list) => {
    assessments.push(...list);
    for (const a of list) count(place, a);
  };

  let sessionFirst = 0;
  for (let i = 0; i < turns.length; i++) {
    const [traceId, sid, uid, time, duration] = turns[i];
    if (i > 0 && turns[i - 1][1] !== sid) sessionFirst = i;
    const place = { sessionId: sid, userIds: uid === null ? [] : [uid] };
    const end = time + duration;
    if (rand() < RATED_SHARE) {
      const value = rand() >= NEGATIVE_SHARE;
      const source = { sourceType: 'HUMAN', sourceId: uid };
      const at = end + 5_000 + Math.floor(rand() * 60_000);
      if (rand() < CHANGED_SHARE) {
        const first = feedback({ id: newId(), traceId, name: SATISFACTION, value: !value, source, valid: false, time: at });
        add(place, [first, feedback({ id: newId(), traceId, name: SATISFACTION, value, source, overrides: first.assessmentId, time: at + 10_000 })]);
      } else {
        add(place, [feedback({ id: newId(), traceId, name: SATISFACTION, value, source, time: at })]);
      }
    }
    if (rand() < JUDGED_SHARE) {
      const value = 1 + Math.floor(rand() * 5);
      add(place, [feedback({ id: newId(), traceId, name: RELEVANCE, value, source: { sourceType: 'LLM_JUDGE', sourceId: 'relevance-judge' }, time: end + 2_000 })]);
    }
    const last = i + 1 === turns.length || turns[i + 1][1] !== sid;
    if (last && sid !== null && rand() < SESSION_RATED_SHARE) {
      // The session's first turn's user rates the whole conversation after its last turn.
      const session = { experimentId: String(experimentId), sessionId: sid };
      const value = rand() >= SESSION_NEGATIVE_SHARE;
      const a = feedback({
        id: newId(), session, name: SATISFACTION, value, source: { sourceType: 'HUMAN', sourceId: turns[sessionFirst][2] ?? 'anonymous' },
        // The store gives a session's own assessments this metadata (assessments.ts create).
        metadata: { [TraceMetadataKey.SESSION]: sid }, time: end + 60_000,
      });
      add({ sessionId: sid, userIds: sessionUsers.get(sid) ?? [] }, [a]);
    }
  }

  const insertAssessment = db.prepare(`INSERT INTO assessments (assessment_id, trace_id, experiment_id, session_id, span_id, name, kind, value, content, valid, create_time, last_update_time)
    VALUES (@assessment_id, @trace_id, @experiment_id, @session_id, @span_id, @name, @kind, @value, @content, @valid, @create_time, @last_update_time)`);
  const insertRollup = db.prepare(`INSERT INTO feedback_rollups (experiment_id, scope, key, name, count, true_count, false_count, numeric_count, numeric_sum)
    VALUES (@experiment_id, @scope, @key, @name, @count, @true_count, @false_count, @numeric_count, @numeric_sum)`);
  db.transaction(() => {
    db.exec('DELETE FROM assessments; DELETE FROM feedback_rollups; DELETE FROM bench_feedback');
    for (const a of assessments) insertAssessment.run(assessmentRow(a));
    for (const id of [...rollups.keys()].sort()) insertRollup.run(rollups.get(id));
    db.prepare('INSERT INTO bench_feedback (version) VALUES (?)').run(FEEDBACK_VERSION);
  })();
  return { traces: turns.length, assessments: assessments.length, rollups: rollups.size };
}

/**
 * Replays the database's assessments through the server's write path (`createAssessment`,
 * `createSessionAssessment`, oldest first, overrides pointing at the replayed ids) into a copy
 * emptied of them, and checks that it stores the same assessments and the same feedback_rollups.
 */
async function verifyAgainstServer(path, log) {
  await onCopy(path, async (copy) => {
    const db = new Database(copy);
    const rows = db.prepare('SELECT * FROM assessments ORDER BY create_time, assessment_id').all();
    const rollupsOf = (d) => d.prepare('SELECT * FROM feedback_rollups ORDER BY experiment_id, scope, key, name').all();
    const expected = rollupsOf(db);
    db.exec('DELETE FROM assessments; DELETE FROM feedback_rollups');
    db.close();

    const store = await openSqliteStore({ path: copy });
    const ids = new Map();
    try {
      for (const row of rows) {
        const { assessmentId, traceId, session, valid: _valid, ...fields } = storedAssessmentOf(row);
        // The store adds a session's metadata itself; an override names the replayed id.
        const { [TraceMetadataKey.SESSION]: _session, ...metadata } = fields.metadata;
        const input = { ...fields, metadata, overrides: fields.overrides === null ? null : ids.get(fields.overrides), assessmentId: null };
        const stored = traceId !== null ? await store.createAssessment(traceId, input) : await store.createSessionAssessment(session, input);
        ids.set(assessmentId, stored.assessmentId);
      }
    } finally {
      await store.close();
    }

    const replayed = new Database(copy, { readonly: true });
    try {
      // The same assessments, but for the ids the store chose.
      const rename = (text) => text.replace(/a-[0-9a-f]{32}/g, (id) => ids.get(id) ?? id);
      const asStored = (list) => list.map((r) => JSON.stringify({ ...r, content: rename(r.content) })).sort();
      const got = asStored(replayed.prepare('SELECT * FROM assessments').all());
      const want = asStored(rows.map((r) => ({ ...r, assessment_id: ids.get(r.assessment_id) })));
      if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error('feedback: the server stores the replayed assessments differently from the generated rows');
      const actual = rollupsOf(replayed);
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        const diff = actual.findIndex((r, i) => JSON.stringify(r) !== JSON.stringify(expected[i]));
        throw new Error(`feedback: feedback_rollups differ from the server's write path (${expected.length} generated rows, ${actual.length} written; first difference at ${diff}: ${JSON.stringify(expected[diff])} vs ${JSON.stringify(actual[diff])})`);
      }
      log(`checked: feedback rollups — the ${expected.length} generated rows equal what the server's write path keeps for the same ${rows.length} assessments`);
    } finally {
      replayed.close();
    }
  });
}
