import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deleteAssessment,
  flushTraces,
  getAssessment,
  getLastActiveTraceId,
  init,
  logExpectation,
  logFeedback,
  logSessionFeedback,
  overrideFeedback,
  SpanType,
  ThreadlineClient,
  trace,
  updateAssessment,
  updateCurrentTrace,
} from '@threadline/tracing';
import { recordingLogger } from './support/sdk-setup.js';
import { startTrackingServer, type TestTrackingServer } from './support/tracking-server.js';

/**
 * Feedback and expectations from the SDK against a real server, with MLflow's names: the
 * module functions never throw into the app (a failure resolves to undefined and is logged
 * once), the client's methods do.
 */
let server: TestTrackingServer;
let traceId = '';
const logger = recordingLogger();

const answer = trace(
  async (question: string) => {
    updateCurrentTrace({ metadata: { 'mlflow.trace.session': 'session-e2e', 'mlflow.trace.user': 'user-9' } });
    return `echo: ${question}`;
  },
  { name: 'answer', spanType: SpanType.CHAIN },
);

beforeAll(async () => {
  server = await startTrackingServer();
  init({ trackingUri: server.url, experimentId: '0', scheduledDelayMillis: 0, logger });
  await answer('what is 6 x 7?');
  traceId = getLastActiveTraceId()!;
  await flushTraces({ timeoutMillis: 10_000 });
});
afterAll(async () => server?.close());

describe('assessments from the SDK', () => {
  it('logs, reads, updates, overrides and deletes feedback, and finds the trace by it', async () => {
    const feedback = await logFeedback(traceId, { name: 'user_satisfaction', value: false, rationale: 'wrong answer', source: { sourceType: 'HUMAN', sourceId: 'user-123' } });
    expect(feedback).toMatchObject({ name: 'user_satisfaction', traceId, feedback: { value: false }, rationale: 'wrong answer', source: { sourceType: 'HUMAN', sourceId: 'user-123' }, valid: true });
    expect(feedback!.assessmentId).toMatch(/^a-[0-9a-f]{32}$/);
    expect(feedback!.createTime).toBeGreaterThan(0);
    expect(await getAssessment(traceId, feedback!.assessmentId)).toEqual(feedback);

    const updated = await updateAssessment(traceId, feedback!.assessmentId, { rationale: 'the answer was 41', metadata: { channel: 'web' } });
    expect(updated).toMatchObject({ rationale: 'the answer was 41', metadata: { channel: 'web' }, feedback: { value: false } });

    const corrected = await overrideFeedback(traceId, feedback!.assessmentId, { value: true, rationale: 'reviewed: correct', source: { sourceType: 'HUMAN', sourceId: 'reviewer-1' } });
    expect(corrected).toMatchObject({ name: 'user_satisfaction', feedback: { value: true }, overrides: feedback!.assessmentId, valid: true });
    expect(await getAssessment(traceId, feedback!.assessmentId)).toMatchObject({ valid: false });

    // Search reads valid assessments only: the override's value, not the overridden one's.
    const client = new ThreadlineClient({ trackingUri: server.url });
    expect((await client.searchTraces({ filter: "feedback.user_satisfaction = 'true'" })).traces.map((t) => t.traceId)).toEqual([traceId]);
    expect((await client.searchTraces({ filter: "feedback.user_satisfaction = 'false'" })).traces).toEqual([]);
    expect((await client.getTraceInfo(traceId)).assessments).toHaveLength(2);

    expect(await deleteAssessment(traceId, corrected!.assessmentId)).toBe(true);
    expect(await getAssessment(traceId, feedback!.assessmentId)).toMatchObject({ valid: true });
  });

  it('logs feedback on a whole session, which the sessions filter then finds', async () => {
    const rated = await logSessionFeedback('session-e2e', { name: 'resolved', value: true, source: { sourceType: 'HUMAN', sourceId: 'user-9' } });
    expect(rated).toMatchObject({ name: 'resolved', feedback: { value: true }, source: { sourceType: 'HUMAN', sourceId: 'user-9' } });
    const client = new ThreadlineClient({ trackingUri: server.url });
    expect((await client.getSessionAssessments('session-e2e')).map((a) => a.assessmentId)).toEqual([rated!.assessmentId]);
    const { sessions } = await client.searchSessions({ filter: 'feedback.resolved.positive > 0' });
    expect(sessions.map((s) => s.sessionId)).toEqual(['session-e2e']);
  });

  it('logs an expectation of any JSON shape and reads it back', async () => {
    const expected = await logExpectation(traceId, { name: 'expected_answer', value: { answer: 42, units: ['none'] } });
    expect(expected).toMatchObject({ name: 'expected_answer', expectation: { value: { answer: 42, units: ['none'] } }, source: { sourceType: 'HUMAN' } });
    expect((await getAssessment(traceId, expected!.assessmentId))?.expectation).toEqual({ value: { answer: 42, units: ['none'] } });
  });

  it('never throws into the app: a refused or unreachable call resolves to undefined and is logged once', async () => {
    logger.messages.length = 0;
    expect(await logFeedback('tr-00000000000000000000000000000bad', { name: 'x', value: 1 })).toBeUndefined();
    expect(await logFeedback('tr-00000000000000000000000000000bad', { name: 'x', value: 2 })).toBeUndefined();
    expect(logger.messages.filter((m) => m.level === 'warn')).toHaveLength(1);
    expect(logger.messages[0]!.message).toMatch(/logFeedback failed/);

    // A server that is gone: the same, and the app goes on.
    init({ trackingUri: 'http://127.0.0.1:9', experimentId: '0', scheduledDelayMillis: 0, logger, requestTimeoutMillis: 2000 });
    expect(await logFeedback(traceId, { name: 'x', value: 1 })).toBeUndefined();
    expect(await deleteAssessment(traceId, 'a-00000000000000000000000000000000')).toBe(false);
    init({ trackingUri: server.url, experimentId: '0', scheduledDelayMillis: 0, logger });

    // The client's own methods throw, as MLflow's client does.
    await expect(new ThreadlineClient({ trackingUri: server.url }).logFeedback('tr-00000000000000000000000000000bad', { value: 1 })).rejects.toThrow(/404|not found/i);
  });
});
