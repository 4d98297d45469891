import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { assessmentClient, expectation, feedback } from './support/assessments.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody, tracesJsonPath, tracesJsonText } from './support/mlflow-payloads.js';
import { JSON_HEADERS, useTestApp } from './support/test-app.js';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

describeEachDatabase('MLflow assessments API', (database) => {
  const t = useTestApp(database);
  const api = assessmentClient(t);
  const newTrace = async (traceId = newTraceId(), extra: Record<string, unknown> = {}) => {
    const body = startTraceBody({ traceId }) as { trace: { trace_info: Record<string, unknown> } };
    Object.assign(body.trace.trace_info, extra);
    const res = await t.post('/api/3.0/mlflow/traces', body);
    expect(res.statusCode, res.body).toBe(200);
    return traceId;
  };
  const infoOf = async (traceId: string) => (await t.get(`/api/3.0/mlflow/traces/${traceId}`)).json().trace.trace_info;
  /** Everything stored about a trace's assessments, to prove a refused request changed nothing. */
  const snapshot = async (traceId: string) => ({
    info: await infoOf(traceId),
    rows: await t.store.db.selectFrom('assessments').selectAll().orderBy('assessment_id').execute(),
  });

  describe('create and get, in MLflow shapes', () => {
    it('creates feedback with every field and answers it as MLflow does', async () => {
      const traceId = await newTrace();
      const res = await api.create(traceId, {
        ...feedback('correctness', true),
        trace_id: 'ignored: the path names the trace',
        rationale: 'The response is correct and well-formatted',
        metadata: { project: 'test-project', version: '1.0' },
        span_id: 'span-123',
      });
      expect(res.statusCode, res.body).toBe(200);
      const a = res.json().assessment;
      expect(a).toEqual({
        assessment_id: expect.stringMatching(/^a-[0-9a-f]{32}$/),
        assessment_name: 'correctness',
        trace_id: traceId,
        span_id: 'span-123',
        source: { source_type: 'HUMAN', source_id: 'reviewer@example.com' },
        create_time: expect.stringMatching(RFC3339),
        last_update_time: expect.stringMatching(RFC3339),
        feedback: { value: true },
        rationale: 'The response is correct and well-formatted',
        metadata: { project: 'test-project', version: '1.0' },
        valid: true,
      });
      const got = await api.get(traceId, a.assessment_id);
      expect(got.statusCode).toBe(200);
      expect(got.json()).toEqual({ assessment: a });
      expect((await api.get(traceId, a.assessment_id, '/ajax-api')).json()).toEqual({ assessment: a });
    });

    it.each([
      ['a boolean', false],
      ['an integer', 5],
      ['a float', 0.25],
      ['a string', 'Great response! Very helpful.'],
      ['a list of strings', ['too long', 'off topic']],
      ['an object', { score: 4, label: 'good' }],
    ])('keeps a feedback value that is %s exactly', async (_what, value) => {
      const traceId = await newTrace();
      const created = (await api.create(traceId, feedback('v', value))).json().assessment;
      expect(created.feedback).toEqual({ value });
      expect((await api.get(traceId, created.assessment_id)).json().assessment.feedback).toEqual({ value });
    });

    it('keeps feedback that has only an error', async () => {
      const traceId = await newTrace();
      const error = { error_code: 'ValueError', error_message: 'Test error message', stack_trace: 'Traceback ...\nValueError: Test error message' };
      const res = await api.create(traceId, { assessment_name: 'judge', source: { source_type: 'LLM_JUDGE', source_id: 'gpt-4' }, feedback: { error } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().assessment.feedback).toEqual({ value: null, error });
    });

    it('answers expectations as MLflow writes them: scalars as value, the rest serialized', async () => {
      const traceId = await newTrace();
      const scalar = (await api.create(traceId, expectation('expected_response', 'The capital of France is Paris.'))).json().assessment;
      expect(scalar.expectation).toEqual({ value: 'The capital of France is Paris.' });
      const facts = ['Paris', 'capital'];
      const serialized = (await api.create(traceId, expectation('expected_facts', facts))).json().assessment;
      expect(serialized.expectation).toEqual({ serialized_value: { serialization_format: 'JSON_FORMAT', value: JSON.stringify(facts) } });
      // A list sent as a plain value is served the way MLflow serves it.
      const plain = (await api.create(traceId, { ...expectation('plain', 1), expectation: { value: { a: [1, 2] } } })).json().assessment;
      expect(plain.expectation).toEqual({ serialized_value: { serialization_format: 'JSON_FORMAT', value: '{"a":[1,2]}' } });
      expect(scalar.source).toEqual({ source_type: 'CODE', source_id: 'checker' });
    });

    it("reads MLflow's deprecated AI_JUDGE as LLM_JUDGE and a missing source_id as 'default'", async () => {
      const traceId = await newTrace();
      const a = (await api.create(traceId, { ...feedback('x', 1), source: { source_type: 'AI_JUDGE' } })).json().assessment;
      expect(a.source).toEqual({ source_type: 'LLM_JUDGE', source_id: 'default' });
    });
  });

  describe('trace_info.assessments on every read', () => {
    let traceId: string;
    let assessments: unknown[];
    beforeAll(async () => {
      traceId = await newTrace();
      await api.create(traceId, feedback('helpful', true));
      await api.create(traceId, expectation('expected', 'yes'));
      assessments = (await infoOf(traceId)).assessments;
    });

    it('lists them oldest first in GET /traces/{id}', () => {
      expect(assessments).toHaveLength(2);
      expect(assessments.map((a) => (a as { assessment_name: string }).assessment_name)).toEqual(['helpful', 'expected']);
    });

    it('serves the same in traces/get, batchGet, batchGetInfos and search', async () => {
      expect((await t.get(`/api/3.0/mlflow/traces/get?trace_id=${traceId}`)).json().trace.trace_info.assessments).toEqual(assessments);
      expect((await t.get(`/api/3.0/mlflow/traces/batchGet?trace_ids=${traceId}`)).json().traces[0].trace_info.assessments).toEqual(assessments);
      expect((await t.post('/api/3.0/mlflow/traces/batchGetInfos', { trace_ids: [traceId] })).json().trace_infos[0].assessments).toEqual(assessments);
      const search = await t.post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: '0' } }], filter: `trace.request_id = '${traceId}'` });
      expect(search.json().traces[0].assessments).toEqual(assessments);
    });
  });

  describe('update with update_mask', () => {
    it('changes the fields the mask names, merges metadata, and moves last_update_time only', async () => {
      const traceId = await newTrace();
      const created = (await api.create(traceId, feedback('correctness', true, { rationale: 'Original', metadata: { keep: 'this', override: 'old' }, span_id: 's-1' }))).json().assessment;
      await new Promise((resolve) => setTimeout(resolve, 5));
      const res = await api.update(traceId, created.assessment_id, {
        assessment: { assessment_name: 'correctness_updated', feedback: { value: false }, rationale: 'Updated', metadata: { override: 'new', added: 'yes' }, span_id: 'not in the mask' },
        update_mask: 'assessment_name,feedback,rationale,metadata',
      });
      expect(res.statusCode, res.body).toBe(200);
      const updated = res.json().assessment;
      expect(updated).toEqual({
        ...created,
        assessment_name: 'correctness_updated',
        feedback: { value: false },
        rationale: 'Updated',
        metadata: { keep: 'this', override: 'new', added: 'yes' },
        last_update_time: expect.stringMatching(RFC3339),
      });
      expect(Date.parse(updated.last_update_time)).toBeGreaterThan(Date.parse(created.last_update_time));
      expect((await api.get(traceId, created.assessment_id)).json().assessment).toEqual(updated);
    });

    it('takes the camelCase paths of proto JSON and an expectation value', async () => {
      const traceId = await newTrace();
      const created = (await api.create(traceId, expectation('expected_response', 'Paris'))).json().assessment;
      const res = await api.update(traceId, created.assessment_id, {
        assessment: { assessment_name: 'renamed', expectation: { value: 'The capital is Paris.' } },
        update_mask: 'assessmentName,expectation',
      });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().assessment).toMatchObject({ assessment_name: 'renamed', expectation: { value: 'The capital is Paris.' } });
    });
  });

  describe('overrides', () => {
    it('makes the overridden assessment invalid, and valid again when the override is deleted', async () => {
      const traceId = await newTrace();
      const original = (await api.create(traceId, { ...feedback('quality', 'poor'), source: { source_type: 'LLM_JUDGE', source_id: 'judge' } })).json().assessment;
      const override = (await api.create(traceId, feedback('quality', 'excellent', { overrides: original.assessment_id }))).json().assessment;
      expect(override).toMatchObject({ overrides: original.assessment_id, valid: true, feedback: { value: 'excellent' } });
      expect((await api.get(traceId, original.assessment_id)).json().assessment).toMatchObject({ valid: false, feedback: { value: 'poor' } });
      expect((await infoOf(traceId)).assessments.map((a: { valid: boolean }) => a.valid)).toEqual([false, true]);

      const removed = await api.remove(traceId, override.assessment_id);
      expect(removed.statusCode).toBe(200);
      expect(removed.json()).toEqual({});
      expect((await api.get(traceId, override.assessment_id)).statusCode).toBe(404);
      expect((await api.get(traceId, original.assessment_id)).json().assessment.valid).toBe(true);
    });

    it('deletes idempotently, as MLflow does', async () => {
      const traceId = await newTrace();
      const a = (await api.create(traceId, feedback('x', 1))).json().assessment;
      expect((await api.remove(traceId, a.assessment_id)).statusCode).toBe(200);
      expect((await api.remove(traceId, a.assessment_id)).statusCode).toBe(200);
      expect((await api.remove(traceId, 'a-00000000000000000000000000000000')).json()).toEqual({});
    });
  });

  describe('bad input gets MLflow error bodies and changes nothing', () => {
    let traceId: string;
    let feedbackId: string;
    let expectationId: string;
    beforeAll(async () => {
      traceId = await newTrace();
      feedbackId = (await api.create(traceId, feedback('helpful', true, { rationale: 'kept' }))).json().assessment.assessment_id;
      expectationId = (await api.create(traceId, expectation('expected', 'yes'))).json().assessment.assessment_id;
    });
    const unknownTrace = 'tr-00000000000000000000000000000000';
    const cases: [string, () => Promise<{ statusCode: number; json(): unknown }>, number, string][] = [
      ['create on an unknown trace', () => api.create(unknownTrace, feedback('x', 1)), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['get on an unknown trace', () => api.get(unknownTrace, feedbackId), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['update on an unknown trace', () => api.update(unknownTrace, feedbackId, { assessment: { rationale: 'x' }, update_mask: 'rationale' }), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['delete on an unknown trace', () => api.remove(unknownTrace, feedbackId), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['get of an unknown assessment', () => api.get(traceId, 'a-ffffffffffffffffffffffffffffffff'), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['update of an unknown assessment', () => api.update(traceId, 'a-ffffffffffffffffffffffffffffffff', { assessment: { rationale: 'x' }, update_mask: 'rationale' }), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['an override of an unknown assessment', () => api.create(traceId, feedback('helpful', false, { overrides: 'nonexistent-assessment-id' })), 404, 'RESOURCE_DOES_NOT_EXIST'],
      ['no assessment', () => t.post(`/api/3.0/mlflow/traces/${traceId}/assessments`, {}), 400, 'INVALID_PARAMETER_VALUE'],
      ['no name', () => api.create(traceId, { ...feedback('x', 1), assessment_name: undefined }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a name that is a number', () => api.create(traceId, { ...feedback('x', 1), assessment_name: 5 }), 400, 'INVALID_PARAMETER_VALUE'],
      ['both feedback and expectation', () => api.create(traceId, { ...feedback('x', 1), expectation: { value: 1 } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['neither feedback nor expectation', () => api.create(traceId, { assessment_name: 'x', source: { source_type: 'HUMAN' } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['feedback without value or error', () => api.create(traceId, { ...feedback('x', 1), feedback: {} }), 400, 'INVALID_PARAMETER_VALUE'],
      ['feedback that is not an object', () => api.create(traceId, { ...feedback('x', 1), feedback: 'yes' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an expectation without a value', () => api.create(traceId, { ...expectation('x', 1), expectation: { value: null } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an unknown serialization format', () => api.create(traceId, { ...expectation('x', 1), expectation: { serialized_value: { serialization_format: 'PICKLE', value: 'x' } } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a serialized value that is not JSON', () => api.create(traceId, { ...expectation('x', 1), expectation: { serialized_value: { serialization_format: 'JSON_FORMAT', value: '{' } } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an unknown source type', () => api.create(traceId, { ...feedback('x', 1), source: { source_type: 'ROBOT' } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['no source', () => api.create(traceId, { ...feedback('x', 1), source: undefined }), 400, 'INVALID_PARAMETER_VALUE'],
      ['a metadata value that is a number', () => api.create(traceId, feedback('x', 1, { metadata: { n: 5 } })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a rationale that is not a string', () => api.create(traceId, feedback('x', 1, { rationale: ['a'] })), 400, 'INVALID_PARAMETER_VALUE'],
      ['a bad create_time', () => api.create(traceId, feedback('x', 1, { create_time: 'yesterday' })), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update without a mask', () => api.update(traceId, feedbackId, { assessment: { rationale: 'x' } }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update of an immutable field (source)', () => api.update(traceId, feedbackId, { assessment: { source: { source_type: 'CODE' } }, update_mask: 'rationale,source' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update of an immutable field (span_id)', () => api.update(traceId, feedbackId, { assessment: { span_id: 'x' }, update_mask: 'span_id' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update of an immutable field (overrides)', () => api.update(traceId, feedbackId, { assessment: { overrides: expectationId }, update_mask: 'overrides' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update of an unknown field', () => api.update(traceId, feedbackId, { assessment: {}, update_mask: 'colour' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update of feedback on an expectation', () => api.update(traceId, expectationId, { assessment: { feedback: { value: 1 } }, update_mask: 'feedback' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update of an expectation on feedback', () => api.update(traceId, feedbackId, { assessment: { expectation: { value: 1 } }, update_mask: 'expectation' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update that names a value it lacks', () => api.update(traceId, feedbackId, { assessment: {}, update_mask: 'feedback' }), 400, 'INVALID_PARAMETER_VALUE'],
      ['an update of valid to a string', () => api.update(traceId, feedbackId, { assessment: { valid: 'no' }, update_mask: 'valid' }), 400, 'INVALID_PARAMETER_VALUE'],
    ];

    it.each(cases)('%s', async (_name, send, status, errorCode) => {
      const before = await snapshot(traceId);
      const res = await send();
      expect(res.statusCode).toBe(status);
      expect(res.json()).toEqual({ error_code: errorCode, message: expect.any(String) });
      expect(await snapshot(traceId)).toEqual(before);
    });
  });

  describe('assessments logged inside trace_info', () => {
    it('stores them, once however often the log is retried', async () => {
      const traceId = newTraceId();
      const logged = [
        { ...feedback('helpful', true), create_time: '2026-01-02T03:04:05.678Z', last_update_time: '2026-01-02T03:04:05.678Z' },
        { ...expectation('expected_facts', ['a', 'b']), assessment_id: 'a-0123456789abcdef0123456789abcdef' },
      ];
      await newTrace(traceId, { assessments: logged });
      const first = (await infoOf(traceId)).assessments;
      expect(first).toHaveLength(2);
      expect(first[0]).toMatchObject({ assessment_name: 'helpful', feedback: { value: true }, create_time: '2026-01-02T03:04:05.678Z', valid: true, trace_id: traceId });
      expect(first[1]).toMatchObject({ assessment_id: 'a-0123456789abcdef0123456789abcdef', expectation: { serialized_value: { value: '["a","b"]' } } });
      await newTrace(traceId, { assessments: logged });
      expect((await infoOf(traceId)).assessments).toEqual(first);
    });

    it('refuses a bad one with a 400 and stores nothing', async () => {
      const traceId = newTraceId();
      const res = await t.post('/api/3.0/mlflow/traces', (() => {
        const body = startTraceBody({ traceId }) as { trace: { trace_info: Record<string, unknown> } };
        body.trace.trace_info.assessments = [{ assessment_name: 'x', source: { source_type: 'HUMAN' } }];
        return body;
      })());
      expect(res.statusCode).toBe(400);
      expect((await t.get(`/api/3.0/mlflow/traces/${traceId}`)).statusCode).toBe(404);
    });
  });

  describe('client-chosen trace ids (MlflowClient.createTrace sends a UUID)', () => {
    it('creates, uploads spans, reads, searches and pages traces with UUID ids', async () => {
      const experimentId = (await t.post('/api/2.0/mlflow/experiments/create', { name: `uuid-${randomUUID()}` })).json().experiment_id as string;
      const ids = [randomUUID(), randomUUID()];
      for (const id of ids) {
        const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: id, experimentId }));
        expect(res.statusCode, res.body).toBe(200);
        expect(res.json().trace.trace_info.tags['mlflow.artifactLocation']).toBe(`mlflow-artifacts:/${experimentId}/traces/${id}/artifacts`);
        const put = await t.app.inject({ method: 'PUT', url: tracesJsonPath(id, experimentId), headers: JSON_HEADERS, payload: tracesJsonText(id) });
        expect(put.statusCode, put.body).toBe(200);
      }
      const [first] = ids as [string, string];
      const got = (await t.get(`/api/3.0/mlflow/traces/get?trace_id=${first}`)).json().trace;
      expect(got.trace_info.trace_id).toBe(first);
      expect(got.spans).toHaveLength(2);
      expect((await t.get(tracesJsonPath(first, experimentId))).statusCode).toBe(200);
      const a = (await api.create(first, feedback('helpful', true))).json().assessment;
      expect(a.trace_id).toBe(first);

      const search = (body: Record<string, unknown>) =>
        t.post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } }], ...body });
      expect((await search({ filter: `trace.request_id = '${first}'` })).json().traces.map((x: { trace_id: string }) => x.trace_id)).toEqual([first]);
      expect((await search({ filter: "feedback.helpful = 'true'" })).json().traces.map((x: { trace_id: string }) => x.trace_id)).toEqual([first]);
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const page = (await search({ max_results: 1, ...(token ? { page_token: token } : {}) })).json();
        seen.push(...page.traces.map((x: { trace_id: string }) => x.trace_id));
        token = page.next_page_token;
      } while (token);
      expect([...seen].sort()).toEqual([...ids].sort());
    });
  });
});
