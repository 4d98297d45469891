import type { Assessment, AssessmentChanges, LogExpectationOptions, LogFeedbackOptions, OverrideFeedbackOptions } from './assessments.js';
import { OnceLog } from './logger.js';
import type { ThreadlineClient } from './threadline-client.js';

/** The client init() configured (same server and credentials as the trace export), if any. */
let defaultClient: ThreadlineClient | undefined;
const reported = new OnceLog();

/** Set by init(); undefined when it has no tracking server. */
export function setAssessmentClient(client: ThreadlineClient | undefined): void {
  defaultClient = client;
  reported.reset();
}

/**
 * Runs one assessment call on init()'s server. Like tracing, it never throws into the app: a
 * failure resolves to `undefined` and is logged once per kind of failure.
 */
async function attempt<T>(what: string, call: (client: ThreadlineClient) => Promise<T>): Promise<T | undefined> {
  if (!defaultClient) {
    reported.log('not-initialized', 'warn', `${what}: call init() with a tracking server first; nothing was logged.`);
    return undefined;
  }
  try {
    return await call(defaultClient);
  } catch (error) {
    const kind = (error as { kind?: string }).kind ?? 'error';
    reported.log(kind, 'warn', `${what} failed (${kind}): ${(error as Error)?.message ?? String(error)}. Not logged again for this kind of failure.`);
    return undefined;
  }
}

/**
 * Logs feedback on a trace, e.g. an end user's thumbs-down, on the server init() configured.
 * Resolves to the stored feedback, or `undefined` when it could not be logged (reported once
 * through the logger, never thrown).
 *
 * @example
 * await logFeedback(traceId, { name: 'user_satisfaction', value: false, rationale: 'wrong answer', source: { sourceType: 'HUMAN', sourceId: userId } });
 */
export function logFeedback(traceId: string, options: LogFeedbackOptions): Promise<Assessment | undefined> {
  return attempt('logFeedback', (client) => client.logFeedback(traceId, options));
}

/** Logs the expected result of a trace (ground truth); see {@link logFeedback}. */
export function logExpectation(traceId: string, options: LogExpectationOptions): Promise<Assessment | undefined> {
  return attempt('logExpectation', (client) => client.logExpectation(traceId, options));
}

export function getAssessment(traceId: string, assessmentId: string): Promise<Assessment | undefined> {
  return attempt('getAssessment', (client) => client.getAssessment(traceId, assessmentId));
}

export function updateAssessment(traceId: string, assessmentId: string, changes: AssessmentChanges): Promise<Assessment | undefined> {
  return attempt('updateAssessment', (client) => client.updateAssessment(traceId, assessmentId, changes));
}

/** Replaces a feedback with a corrected one; the old one stays, marked invalid. */
export function overrideFeedback(traceId: string, assessmentId: string, options: OverrideFeedbackOptions): Promise<Assessment | undefined> {
  return attempt('overrideFeedback', (client) => client.overrideFeedback(traceId, assessmentId, options));
}

/**
 * Logs feedback on a whole conversation (a session), e.g. "was the user's problem solved?", in
 * `options.experimentId` or init()'s experiment. Never throws; see {@link logFeedback}.
 */
export function logSessionFeedback(sessionId: string, options: LogFeedbackOptions & { experimentId?: string }): Promise<Assessment | undefined> {
  return attempt('logSessionFeedback', (client) => client.logSessionFeedback(sessionId, options));
}

/** Deletes an assessment; resolves to true once deleted, false when it could not be. */
export async function deleteAssessment(traceId: string, assessmentId: string): Promise<boolean> {
  return (await attempt('deleteAssessment', async (client) => (await client.deleteAssessment(traceId, assessmentId), true))) ?? false;
}
