import type { LightMyRequestResponse } from 'fastify';
import { expect, it } from 'vitest';
import { assessmentClient, feedback } from './support/assessments.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody } from './support/mlflow-payloads.js';
import { JSON_HEADERS, useTestApp } from './support/test-app.js';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/**
 * Assessments of a whole session (`/api/threadline/sessions/{session_id}/assessments`): stored on
 * the session, in MLflow's assessment JSON, with the trace API's error contract; listed with
 * MLflow's session-scoped assessments (logged on a trace with metadata `mlflow.trace.session`).
 */
describeEachDatabase('session assessments over HTTP', (database) => {
  const t = useTestApp(database);
  const traces = assessmentClient(t);
  let counter = 0;
  const newSession = async (user = 'u-1') => {
    const session = `s-${++counter}-${newTraceId().slice(3, 11)}`;
    const traceId = newTraceId();
    const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, session, user }));
    expect(res.statusCode, res.body).toBe(200);
    return { session, traceId };
  };
  const url = (session: string, assessmentId?: string, query = 'experiment_id=0') =>
    `/api/threadline/sessions/${encodeURIComponent(session)}/assessments${assessmentId === undefined ? '' : `/${assessmentId}`}${query ? `?${query}` : ''}`;
  const api = {
    create: (session: string, assessment: unknown, experimentId: unknown = '0') => t.post(url(session, undefined, ''), { experiment_id: experimentId, assessment }),
    list: (session: string, query?: string) => t.get(url(session, undefined, query)),
    get: (session: string, id: string, query?: string) => t.get(url(session, id, query)),
    update: (session: string, id: string, body: unknown): Promise<LightMyRequestResponse> =>
      t.app.inject({ method: 'PATCH', url: url(session, id), headers: JSON_HEADERS, payload: JSON.stringify(body) }),
    remove: (session: string, id: string) => t.app.inject({ method: 'DELETE', url: url(session, id) }),
  };
  const rows = () => t.store.db.selectFrom('assessments').selectAll().orderBy('assessment_id').execute();

  it('creates, gets, lists, updates and deletes feedback on a whole session, in MLflow shapes', async () => {
    const { session } = await newSession();
    const created = await api.create(session, { ...feedback('user_satisfaction', false), rationale: 'went in circles' });
    expect(created.statusCode, created.body).toBe(200);
    const a = created.json().assessment;
    expect(a).toEqual({
      assessment_id: expect.stringMatching(/^a-[0-9a-f]{32}$/),
      assessment_name: 'user_satisfaction',
      session_id: session,
      source: { source_type: 'HUMAN', source_id: 'reviewer@example.com' },
      create_time: expect.stringMatching(RFC3339),
      last_update_time: expect.stringMatching(RFC3339),
      feedback: { value: false },
      rationale: 'went in circles',
      metadata: { 'mlflow.trace.session': session },
      valid: true,
    });
    // Stored on the session, not on a stand-in trace.
    const row = (await rows()).find((r) => r.assessment_id === a.assessment_id)!;
    expect(row).toMatchObject({ trace_id: null, session_id: session });
    expect((await api.get(session, a.assessment_id)).json()).toEqual({ assessment: a });
    expect((await api.list(session)).json()).toEqual({ assessments: [a] });

    const updated = await api.update(session, a.assessment_id, { assessment: { feedback: { value: true }, rationale: 'fine after all' }, update_mask: 'feedback,rationale' });
    expect(updated.statusCode, updated.body).toBe(200);
    expect(updated.json().assessment).toMatchObject({ feedback: { value: true }, rationale: 'fine after all', create_time: a.create_time });

    const override = await api.create(session, { ...feedback('user_satisfaction', 'no'), overrides: a.assessment_id });
    expect(override.statusCode, override.body).toBe(200);
    expect((await api.get(session, a.assessment_id)).json().assessment.valid).toBe(false);
    expect((await api.remove(session, override.json().assessment.assessment_id)).statusCode).toBe(200);
    expect((await api.get(session, a.assessment_id)).json().assessment.valid).toBe(true);

    expect((await api.remove(session, a.assessment_id)).statusCode).toBe(200);
    expect((await api.remove(session, a.assessment_id)).statusCode).toBe(200); // idempotent, as in MLflow
    expect((await api.get(session, a.assessment_id)).statusCode).toBe(404);
    expect((await api.list(session)).json()).toEqual({ assessments: [] });
  });

  it("lists MLflow's session-scoped assessments, logged on a trace of the session, as the session's", async () => {
    const { session, traceId } = await newSession();
    const other = await newSession();
    const scoped = (await traces.create(traceId, feedback('coherent', 4, { metadata: { 'mlflow.trace.session': session } }))).json().assessment;
    await traces.create(traceId, feedback('turn_only', true));
    await traces.create(other.traceId, feedback('elsewhere', true, { metadata: { 'mlflow.trace.session': other.session } }));
    const own = (await api.create(session, feedback('resolved', 'yes'))).json().assessment;
    const listed = (await api.list(session)).json().assessments as { assessment_id: string }[];
    expect(listed.map((x) => x.assessment_id).sort()).toEqual([scoped.assessment_id, own.assessment_id].sort());
    expect(listed.find((x) => x.assessment_id === scoped.assessment_id)).toMatchObject({ trace_id: traceId, feedback: { value: 4 } });
    // A trace search for the session's own feedback finds every turn of the session.
    const found = await t.post('/api/3.0/mlflow/traces/search', {
      locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }],
      filter: "feedback.resolved = 'yes'",
    });
    expect(found.json().traces.map((x: { trace_id: string }) => x.trace_id)).toEqual([traceId]);
  });

  it('answers bad requests with MLflow error JSON and changes nothing', async () => {
    const { session } = await newSession();
    const a = (await api.create(session, feedback('ok', true))).json().assessment;
    const ofTrace = (await traces.create((await newSession()).traceId, feedback('x', 1))).json().assessment.assessment_id as string;
    const before = await rows();
    const cases: [string, () => Promise<LightMyRequestResponse>, number, string][] = [
      ['unknown session', () => api.create('no-such-session', feedback('ok', true)), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['unknown experiment', () => api.create(session, feedback('ok', true), '987654'), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['bad experiment id', () => api.create(session, feedback('ok', true), 'abc'), 400, 'INVALID_PARAMETER_VALUE'],
      ['no name', () => api.create(session, { feedback: { value: true }, source: { source_type: 'HUMAN' } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a span of a session', () => api.create(session, feedback('ok', true, { span_id: 'abc' })), 400, 'INVALID_PARAMETER_VALUE'],
      ['unknown override', () => api.create(session, feedback('ok', true, { overrides: 'a-0000' })), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['unknown assessment', () => api.get(session, 'a-0000'), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['a trace assessment id under a session', () => api.get(session, ofTrace), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['other kind of value', () => api.update(session, a.assessment_id, { assessment: { expectation: { value: 1 } }, update_mask: 'expectation' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['immutable field', () => api.update(session, a.assessment_id, { assessment: { source: { source_type: 'CODE' } }, update_mask: 'source' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['update of unknown', () => api.update(session, 'a-0000', { assessment: { rationale: 'x' }, update_mask: 'rationale' }), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['list of unknown session', () => api.list('no-such-session'), 404, 'RESOURCE_DOES_NOT_EXIST'],
    ];
    for (const [what, request, status, code] of cases) {
      const res = await request();
      expect(res.statusCode, `${what}: ${res.body}`).toBe(status);
      expect(res.json(), what).toEqual({ error_code: code, message: expect.any(String) });
    }
    expect(await rows()).toEqual(before);
  });
});
