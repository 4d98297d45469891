import type { AssessmentInput, TraceRecord } from '../../src/trace-model.js';
import { newTraceId } from './mlflow-payloads.js';

/**
 * A finished trace as the store's `startTrace` takes it: experiment 0, at 1000 ms, 10 ms long,
 * OK, unless `o` says otherwise; `user`, `session` and `tokens` become the metadata MLflow's
 * clients log.
 *
 * @example
 * await store.startTrace(traceRecord({ session: 'conv-1', user: 'alice' }));
 */
export function traceRecord(o: Partial<TraceRecord> & { user?: string; session?: string; tokens?: number } = {}): TraceRecord {
  const metadata: Record<string, string> = { ...o.metadata };
  if (o.user) metadata['mlflow.trace.user'] = o.user;
  if (o.session) metadata['mlflow.trace.session'] = o.session;
  if (o.tokens !== undefined) metadata['mlflow.trace.tokenUsage'] = JSON.stringify({ input_tokens: o.tokens, output_tokens: 1, total_tokens: o.tokens + 1 });
  return {
    traceId: o.traceId ?? newTraceId(),
    experimentId: o.experimentId ?? '0',
    clientRequestId: null,
    requestTimeMs: o.requestTimeMs ?? 1000,
    executionDurationMs: o.executionDurationMs ?? 10,
    state: o.state ?? 'OK',
    requestPreview: o.requestPreview ?? null,
    responsePreview: o.responsePreview ?? null,
    metadata,
    tags: o.tags ?? {},
  };
}

/**
 * Feedback as the store's `createAssessment` / `createSessionAssessment` take it, from a human
 * reviewer, at the store's clock.
 *
 * @example
 * await store.createAssessment(traceId, feedbackInput('user_satisfaction', false));
 */
export function feedbackInput(name: string, value: unknown, overrides: string | null = null): AssessmentInput {
  return {
    assessmentId: null,
    name,
    kind: 'feedback',
    value,
    error: null,
    spanId: null,
    source: { sourceType: 'HUMAN', sourceId: 'reviewer' },
    rationale: null,
    metadata: {},
    overrides,
    createTimeMs: null,
    lastUpdateTimeMs: null,
  };
}
