import type { AssessmentInput, SpanRecord, TraceRecord } from '../../src/trace-model.js';
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

/**
 * A trace's one LLM span, as the store's `ingestSpans` / `logSpans` take it: `tokens` in and 1
 * out, and, given a `model` of the bundled price table, priced.
 */
export function llmSpan(traceId: string, startMs: number, endMs: number, status: 'OK' | 'ERROR', tokens: number, model?: string): SpanRecord {
  return {
    spanId: traceId.slice(-16),
    parentSpanId: null,
    name: 'chat',
    type: 'LLM',
    status,
    statusMessage: '',
    startNs: BigInt(startMs) * 1_000_000n,
    endNs: BigInt(endMs) * 1_000_000n,
    attributes: { ...(model ? { 'mlflow.llm.model': model } : {}), 'mlflow.chat.tokenUsage': { input_tokens: tokens, output_tokens: 1, total_tokens: tokens + 1 } },
    events: [],
  };
}
