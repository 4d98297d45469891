import type { LightMyRequestResponse } from 'fastify';
import { JSON_HEADERS, type TestApp } from './test-app.js';

/** The assessments API of a test app, as MLflow's clients call it. */
export function assessmentClient(t: TestApp) {
  const url = (traceId: string, assessmentId?: string, prefix = '/api') =>
    `${prefix}/3.0/mlflow/traces/${encodeURIComponent(traceId)}/assessments${assessmentId === undefined ? '' : `/${encodeURIComponent(assessmentId)}`}`;
  return {
    create: (traceId: string, assessment: unknown): Promise<LightMyRequestResponse> => t.post(url(traceId), { assessment }),
    get: (traceId: string, assessmentId: string, prefix?: string): Promise<LightMyRequestResponse> => t.get(url(traceId, assessmentId, prefix)),
    update: (traceId: string, assessmentId: string, body: unknown): Promise<LightMyRequestResponse> =>
      t.app.inject({ method: 'PATCH', url: url(traceId, assessmentId), headers: JSON_HEADERS, payload: body as string }),
    remove: (traceId: string, assessmentId: string): Promise<LightMyRequestResponse> => t.app.inject({ method: 'DELETE', url: url(traceId, assessmentId) }),
  };
}

/** Feedback as MLflow's SDKs send it (`mlflow.log_feedback`). */
export function feedback(name: string, value: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { assessment_name: name, source: { source_type: 'HUMAN', source_id: 'reviewer@example.com' }, feedback: { value }, ...extra };
}

/** An expectation as MLflow's SDKs send it (`mlflow.log_expectation`): scalars as value, the rest serialized. */
export function expectation(name: string, value: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const scalar = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
  return {
    assessment_name: name,
    source: { source_type: 'CODE', source_id: 'checker' },
    expectation: scalar ? { value } : { serialized_value: { serialization_format: 'JSON_FORMAT', value: JSON.stringify(value) } },
    ...extra,
  };
}
