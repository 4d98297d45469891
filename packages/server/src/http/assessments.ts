import { ApiPath, type AssessmentResponse } from '@threadline/protocol';
import type { FastifyInstance } from 'fastify';
import { parseAssessment, parseAssessmentUpdate } from '../ingest/mlflow-assessment.js';
import type { RouteContext } from './app.js';
import { bodyObject } from './fields.js';
import { assessmentJson } from './views.js';

type AssessmentParams = { trace_id: string; assessment_id: string };

const path = (template: string) => template.replace(/\{(\w+)\}/g, ':$1');

/**
 * MLflow's assessments API (CreateAssessment, GetAssessment, UpdateAssessment, DeleteAssessment):
 * feedback and expectations on a trace. Unknown traces and assessments are 404s, bad input 400s,
 * both with MLflow's error body, and a refused request changes nothing.
 */
export function registerAssessmentRoutes(app: FastifyInstance, { store }: RouteContext): void {
  app.post<{ Params: { trace_id: string } }>(path(ApiPath.ASSESSMENTS_CREATE), async (req): Promise<AssessmentResponse> => {
    // The path names the trace, as in MLflow; a trace_id in the body is not looked at.
    const input = parseAssessment(bodyObject(req.body).assessment, 'assessment');
    return { assessment: assessmentJson(await store.createAssessment(req.params.trace_id, { ...input, assessmentId: null })) };
  });

  app.get<{ Params: AssessmentParams }>(path(ApiPath.ASSESSMENT), async (req): Promise<AssessmentResponse> => ({
    assessment: assessmentJson(await store.getAssessment(req.params.trace_id, req.params.assessment_id)),
  }));

  app.patch<{ Params: AssessmentParams }>(path(ApiPath.ASSESSMENT), async (req): Promise<AssessmentResponse> => {
    const changes = parseAssessmentUpdate(bodyObject(req.body));
    return { assessment: assessmentJson(await store.updateAssessment(req.params.trace_id, req.params.assessment_id, changes)) };
  });

  app.delete<{ Params: AssessmentParams }>(path(ApiPath.ASSESSMENT), async (req) => {
    await store.deleteAssessment(req.params.trace_id, req.params.assessment_id);
    return {};
  });
}
