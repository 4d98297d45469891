import { ApiPath, type AssessmentResponse, type ListAssessmentsResponse } from '@threadline/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseAssessment, parseAssessmentUpdate } from '../ingest/mlflow-assessment.js';
import { parseExperimentId } from '../ingest/mlflow-trace-info.js';
import { isObject } from '../ingest/mlflow-spans.js';
import type { AssessedSession } from '../trace-model.js';
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
export function registerAssessmentRoutes(app: FastifyInstance, { store, experiments }: RouteContext): void {
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

  // ---- a whole session's assessments: the same JSON and errors, `experiment_id` in body or query.

  /** The session a request names; an unknown experiment is a 404, a missing or bad id a 400. */
  const sessionOf = async (req: FastifyRequest<{ Params: { session_id: string } }>): Promise<AssessedSession> => {
    const fields = { ...(isObject(req.query) ? req.query : {}), ...(isObject(req.body) ? req.body : {}) };
    const experimentId = parseExperimentId(fields.experiment_id, 'experiment_id');
    await experiments.artifactLocation(experimentId);
    return { experimentId, sessionId: req.params.session_id };
  };
  type SessionParams = { session_id: string; assessment_id: string };

  app.post<{ Params: { session_id: string } }>(path(ApiPath.SESSION_ASSESSMENTS), async (req): Promise<AssessmentResponse> => {
    const session = await sessionOf(req);
    const input = parseAssessment(bodyObject(req.body).assessment, 'assessment');
    return { assessment: assessmentJson(await store.createSessionAssessment(session, { ...input, assessmentId: null })) };
  });

  app.get<{ Params: { session_id: string } }>(path(ApiPath.SESSION_ASSESSMENTS), async (req): Promise<ListAssessmentsResponse> => ({
    assessments: (await store.listSessionAssessments(await sessionOf(req))).map(assessmentJson),
  }));

  app.get<{ Params: SessionParams }>(path(ApiPath.SESSION_ASSESSMENT), async (req): Promise<AssessmentResponse> => ({
    assessment: assessmentJson(await store.getSessionAssessment(await sessionOf(req), req.params.assessment_id)),
  }));

  app.patch<{ Params: SessionParams }>(path(ApiPath.SESSION_ASSESSMENT), async (req): Promise<AssessmentResponse> => {
    const session = await sessionOf(req);
    const changes = parseAssessmentUpdate(bodyObject(req.body));
    return { assessment: assessmentJson(await store.updateSessionAssessment(session, req.params.assessment_id, changes)) };
  });

  app.delete<{ Params: SessionParams }>(path(ApiPath.SESSION_ASSESSMENT), async (req) => {
    await store.deleteSessionAssessment(await sessionOf(req), req.params.assessment_id);
    return {};
  });
}
