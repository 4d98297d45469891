/**
 * The feedback rollups through the store, one step at a time: the repair (`recomputeRollups`,
 * `recomputeFeedbackHours`) rebuilds them from the assessments as the writes keep them, and a
 * session's own feedback follows its users as they join and leave it. Each state is compared
 * with a recount from the assessments and, where the rule is the point, with numbers written out.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { feedbackHourKey, recomputeFeedbackHours } from '../src/store/feedback-rollups.js';
import { recomputeRollups } from '../src/store/rollups.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { recountedRollups, storedRollups, type RollupSnapshot } from './support/rollup-recount.js';
import { feedbackInput, traceRecord } from './support/store-inputs.js';

const HOUR = 3_600_000;
const BASE = Date.UTC(2026, 0, 5, 9);

/** What one feedback rollup row holds, zeros left out so that a row reads as the feedback it counts. */
type Counts = Partial<Record<'count' | 'true_count' | 'false_count' | 'numeric_count' | 'numeric_sum', number>>;

/** The feedback rows of one session, user or hour in a snapshot, by name. */
function feedbackOf(snapshot: RollupSnapshot, scope: 'session' | 'user' | 'hour', key: string): Record<string, Counts> {
  const rows = snapshot.feedback.filter((r) => r.scope === scope && r.key === key);
  return Object.fromEntries(
    rows.map(({ scope: _s, key: _k, name, ...counts }) => [name as string, Object.fromEntries(Object.entries(counts).filter(([, n]) => n !== 0)) as Counts]),
  );
}

describeEachDatabase('feedback rollups, step by step', (database) => {
  let db: TestStore;
  beforeAll(async () => {
    db = await database.open();
  });
  afterAll(async () => db.close());

  const newExperiment = async () => db.store.createExperiment({ name: `feedback-${newTraceId()}` });
  /** The experiment's rollups, after checking that they equal a recount. */
  const exactRollups = async (experimentId: string): Promise<RollupSnapshot> => {
    const stored = await storedRollups(db.store.db, Number(experimentId));
    expect(stored).toEqual(await recountedRollups(db.store.db, Number(experimentId)));
    return stored;
  };
  const trace = async (experimentId: string, o: { session?: string; user?: string; requestTimeMs?: number }) => {
    const record = traceRecord({ experimentId, ...o });
    await db.store.startTrace(record);
    return record.traceId;
  };
  const rate = async (traceId: string, name: string, value: unknown, at: number, overrides: string | null = null) =>
    (await db.store.createAssessment(traceId, { ...feedbackInput(name, value, overrides), createTimeMs: at })).assessmentId;
  const rateSession = async (experimentId: string, sessionId: string, name: string, value: unknown, at: number, overrides: string | null = null) =>
    (await db.store.createSessionAssessment({ experimentId, sessionId }, { ...feedbackInput(name, value, overrides), createTimeMs: at })).assessmentId;

  /**
   * A new experiment with sessions s-1 (alice, bob, a deleted trace of dave's), s-2 (alice), s-3
   * (a trace without a user); carol's trace and one more without a session. Feedback of every
   * kind of value, on traces and on sessions, in three hours: overrides, an expectation, deleted
   * feedback and a deleted trace among them. Answers its rollups as written, checked against a
   * recount.
   */
  async function experimentWithEverything(): Promise<{ experimentId: string; experiment: number; written: RollupSnapshot }> {
    const experimentId = await newExperiment();
    const alice1 = await trace(experimentId, { session: 's-1', user: 'alice' });
    const bob1 = await trace(experimentId, { session: 's-1', user: 'bob' });
    const alice2 = await trace(experimentId, { session: 's-2', user: 'alice' });
    const dave1 = await trace(experimentId, { session: 's-1', user: 'dave' });
    const carol = await trace(experimentId, { user: 'carol' });
    const anonymous = await trace(experimentId, { session: 's-3' });
    const nowhere = await trace(experimentId, {});
    await rate(alice1, 'user_satisfaction', true, BASE);
    await rate(alice1, 'score', 4, BASE);
    await rate(bob1, 'user_satisfaction', 'No', BASE + HOUR);
    await rate(bob1, 'score', 2.5, BASE + HOUR);
    const replaced = await rate(alice2, 'score', 5, BASE);
    await rate(alice2, 'score', 1, BASE + HOUR, replaced);
    await rate(dave1, 'user_satisfaction', true, BASE);
    await rate(carol, 'helpful', 'yes', BASE + 2 * HOUR);
    await rate(anonymous, 'helpful', false, BASE + 2 * HOUR);
    await rate(nowhere, 'helpful', 'meh', BASE);
    const withdrawn = await rate(carol, 'score', 3, BASE);
    await db.store.deleteAssessment(carol, withdrawn);
    await db.store.createAssessment(alice1, { ...feedbackInput('expected_answer', 'Paris'), kind: 'expectation', createTimeMs: BASE });
    await rateSession(experimentId, 's-1', 'user_satisfaction', false, BASE + HOUR);
    const tone = await rateSession(experimentId, 's-1', 'tone', 'no', BASE + HOUR);
    await rateSession(experimentId, 's-1', 'tone', 'Yes', BASE + 2 * HOUR, tone);
    await rateSession(experimentId, 's-2', 'user_satisfaction', 'yes', BASE);
    await rateSession(experimentId, 's-3', 'score', 3, BASE + 2 * HOUR);
    await db.store.deleteTraces({ experimentId, traceIds: [dave1] });
    return { experimentId, experiment: Number(experimentId), written: await exactRollups(experimentId) };
  }

  const sessionsAndUsers = async (experimentId: string) => {
    const rows = await db.store.db.selectFrom('traces').select(['session_id', 'user_id']).where('experiment_id', '=', Number(experimentId)).execute();
    return { sessions: rows.flatMap((r) => r.session_id ?? []), users: rows.flatMap((r) => r.user_id ?? []) };
  };

  it('are left as the writes left them by a recompute of every session and user', async () => {
    const { experimentId, written } = await experimentWithEverything();
    // s-1: alice's true, bob's "No", its own false; its tone is the override's "Yes" only.
    expect(feedbackOf(written, 'session', 's-1')).toEqual({
      user_satisfaction: { count: 3, true_count: 1, false_count: 2 },
      score: { count: 2, numeric_count: 2, numeric_sum: 6.5 },
      tone: { count: 1, true_count: 1 },
    });
    // alice: her two traces (the overridden 5 not counted) and the own feedback of both her sessions.
    expect(feedbackOf(written, 'user', 'alice')).toEqual({
      user_satisfaction: { count: 3, true_count: 2, false_count: 1 },
      score: { count: 2, numeric_count: 2, numeric_sum: 5 },
      tone: { count: 1, true_count: 1 },
    });
    expect(feedbackOf(written, 'user', 'dave')).toEqual({});
    expect(feedbackOf(written, 'hour', feedbackHourKey(BASE + 2 * HOUR))).toEqual({
      helpful: { count: 2, true_count: 1, false_count: 1 },
      tone: { count: 1, true_count: 1 },
      score: { count: 1, numeric_count: 1, numeric_sum: 3 },
    });

    const { sessions, users } = await sessionsAndUsers(experimentId);
    await recomputeRollups(db.store.db, Number(experimentId), sessions, users);
    await recomputeFeedbackHours(db.store.db, Number(experimentId));
    expect(await exactRollups(experimentId)).toEqual(written);
  });

  it('are rebuilt from the assessments by a recompute, rows wrong, missing, stray or counted through a stale link', async () => {
    const { experimentId, experiment, written } = await experimentWithEverything();
    const rows = db.store.db.updateTable('feedback_rollups').where('experiment_id', '=', experiment);
    await rows.set({ count: 7, false_count: 0 }).where('scope', '=', 'session').where('key', '=', 's-1').where('name', '=', 'user_satisfaction').execute();
    await rows.set({ numeric_sum: -1 }).where('scope', '=', 'user').where('key', '=', 'bob').execute();
    await db.store.db.deleteFrom('feedback_rollups').where('experiment_id', '=', experiment).where('scope', '=', 'user').where('key', '=', 'alice').where('name', '=', 'score').execute();
    // carol linked to s-2 by no trace of hers, its own feedback counted for her as if she were.
    await db.store.db.insertInto('session_users').values({ experiment_id: experiment, session_id: 's-2', user_id: 'carol' }).execute();
    const stray = { experiment_id: experiment, count: 1, true_count: 1, false_count: 0, numeric_count: 0, numeric_sum: 0 };
    await db.store.db
      .insertInto('feedback_rollups')
      .values([
        { ...stray, scope: 'session', key: 's-2', name: 'ghost' },
        { ...stray, scope: 'user', key: 'zed', name: 'ghost' },
        { ...stray, scope: 'user', key: 'carol', name: 'user_satisfaction' },
      ])
      .execute();
    await rows.set({ count: 9 }).where('scope', '=', 'hour').execute();
    const broken = await storedRollups(db.store.db, experiment);
    expect(broken.feedback).not.toEqual(written.feedback);

    // Only the sessions and the one user no session reaches: the others come in through the sessions.
    await recomputeRollups(db.store.db, experiment, ['s-1', 's-2'], ['zed']);
    const repaired = await storedRollups(db.store.db, experiment);
    expect(repaired.feedback.filter((r) => r.scope !== 'hour')).toEqual(written.feedback.filter((r) => r.scope !== 'hour'));
    expect(repaired.sessionUsers).toEqual(written.sessionUsers);
    expect(feedbackOf(repaired, 'hour', feedbackHourKey(BASE))).toEqual(feedbackOf(broken, 'hour', feedbackHourKey(BASE)));

    await recomputeFeedbackHours(db.store.db, experiment);
    expect(await exactRollups(experimentId)).toEqual(written);
  });

  it('are rebuilt by a recompute only for the sessions and users it is given, and the users linked to them', async () => {
    const { experimentId, experiment, written } = await experimentWithEverything();
    await db.store.db.deleteFrom('feedback_rollups').where('experiment_id', '=', experiment).where('scope', 'in', ['session', 'user']).execute();

    await recomputeRollups(db.store.db, experiment, ['s-2'], []);
    const partly = await storedRollups(db.store.db, experiment);
    // s-2 and its one user, alice, whose feedback reaches into s-1; bob, carol and s-1 stay lost.
    const places = partly.feedback.filter((r) => r.scope !== 'hour').map((r) => `${String(r.scope)} ${String(r.key)}`);
    expect([...new Set(places)]).toEqual(['session s-2', 'user alice']);
    expect(feedbackOf(partly, 'user', 'alice')).toEqual(feedbackOf(written, 'user', 'alice'));
    expect(feedbackOf(partly, 'session', 's-2')).toEqual(feedbackOf(written, 'session', 's-2'));
  });

  it("count a session's own feedback for a user from their first trace of it to their last", async () => {
    const experimentId = await newExperiment();
    const unhappy = { user_satisfaction: { count: 1, false_count: 1 } };
    const helpful = { helpful: { count: 1, true_count: 1 } };
    /** Every state, checked against a recount as it is taken. */
    const states: RollupSnapshot[] = [];
    const state = async () => {
      states.push(await exactRollups(experimentId));
      return states[states.length - 1]!;
    };
    await trace(experimentId, { session: 'joined', user: 'a' });
    await rate(await trace(experimentId, { session: 'elsewhere', user: 'b' }), 'helpful', true, BASE);
    await rateSession(experimentId, 'joined', 'user_satisfaction', false, BASE);
    const alone = await state();
    expect(feedbackOf(alone, 'user', 'b')).toEqual(helpful);

    // b joins the session with two traces: the session's feedback counts for b once.
    const first = await trace(experimentId, { session: 'joined', user: 'b', requestTimeMs: 2000 });
    expect(feedbackOf(await state(), 'user', 'b')).toEqual({ ...helpful, ...unhappy });
    const second = await trace(experimentId, { session: 'joined', user: 'b', requestTimeMs: 3000 });
    expect(feedbackOf(await state(), 'user', 'b')).toEqual({ ...helpful, ...unhappy });

    // Deleting one of b's traces of it leaves b in the session; deleting the only one left takes b out.
    await db.store.deleteTraces({ experimentId, traceIds: [first] });
    expect(feedbackOf(await state(), 'user', 'b')).toEqual({ ...helpful, ...unhappy });
    await db.store.deleteTraces({ experimentId, traceIds: [second] });
    expect(feedbackOf(await state(), 'user', 'b')).toEqual(helpful);

    // c's trace comes first as spans (OTLP) naming the session only; c joins when the client logs its info.
    const unnamed = traceRecord({ experimentId, session: 'joined', user: 'c', requestTimeMs: 4000 });
    const root = { spanId: '00000000000000c1', parentSpanId: null, name: 'root', type: 'CHAIN', status: 'OK' as const, statusMessage: '', startNs: 4_000_000_000n, endNs: 4_010_000_000n, attributes: {}, events: [] };
    await db.store.ingestSpans(experimentId, unnamed.traceId, { metadata: { 'mlflow.trace.session': 'joined' }, tags: {}, name: null }, [root]);
    expect(feedbackOf(await state(), 'user', 'c')).toEqual({});
    expect((await db.store.startTrace(unnamed)).kind).toBe('updated');
    expect(feedbackOf(await state(), 'user', 'c')).toEqual(unhappy);

    // a's rollup and the session's never moved.
    expect(states).toHaveLength(7);
    for (const each of states) {
      expect(feedbackOf(each, 'user', 'a')).toEqual(unhappy);
      expect(feedbackOf(each, 'session', 'joined')).toEqual(unhappy);
    }
  });
});
