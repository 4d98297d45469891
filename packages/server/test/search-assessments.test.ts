import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { pythonJsonText } from '../src/json.js';
import { assessmentClient, expectation, feedback } from './support/assessments.js';
import { describeEachDatabase } from './support/databases.js';
import { startTraceBody } from './support/mlflow-payloads.js';
import { useTestApp } from './support/test-app.js';

/**
 * MLflow's own search_traces cases for `feedback.` and `expectation.` filters
 * (tests/store/tracking/sqlalchemy_store/test_sqlalchemy_store_traces.py), each on a fixture built
 * as that test builds it, through the HTTP API, on both databases. Trace ids keep MLflow's names
 * (trace1, sa-t1, ...) behind a prefix per experiment.
 */
/** One test per filter: the traces it finds, by MLflow name, sorted. */
function searchCases(search: () => (filter: string) => Promise<string[]>, cases: [filter: string, expected: string[]][]): void {
  it.each(cases)('%s', async (filter, expected) => {
    expect(await search()(filter)).toEqual(expected);
  });
}

describeEachDatabase('feedback and expectation search, as in MLflow', (database) => {
  const t = useTestApp(database);
  const api = assessmentClient(t);

  /** A fresh experiment with MLflow-style named traces; returns a search over it. */
  const fixture = async (traceNames: string[], sessions: Record<string, string> = {}) => {
    const experimentId = (await t.post('/api/2.0/mlflow/experiments/create', { name: `search-${randomBytes(4).toString('hex')}` })).json().experiment_id as string;
    const prefix = `e${experimentId}-`;
    const id = (name: string) => prefix + name;
    let time = Date.parse('2026-01-01T00:00:00Z');
    for (const name of traceNames) {
      const body = startTraceBody({ traceId: id(name), experimentId, requestTime: new Date((time += 1000)).toISOString(), ...(sessions[name] ? { session: sessions[name] } : {}) });
      expect((await t.post('/api/3.0/mlflow/traces', body)).statusCode).toBe(200);
    }
    const log = async (name: string, assessment: Record<string, unknown>) => {
      const res = await api.create(id(name), assessment);
      expect(res.statusCode, res.body).toBe(200);
      return res.json().assessment.assessment_id as string;
    };
    const search = async (filter: string): Promise<string[]> => {
      const res = await t.post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } }], filter });
      expect(res.statusCode, `${filter}: ${res.body}`).toBe(200);
      return res.json().traces.map((x: { trace_id: string }) => x.trace_id.slice(prefix.length)).sort();
    };
    return { log, search, id };
  };

  describe('test_search_traces_with_assessments', () => {
    let search: (filter: string) => Promise<string[]>;
    beforeAll(async () => {
      const f = await fixture(['trace1', 'trace2', 'trace3', 'trace4']);
      search = f.search;
      await f.log('trace1', feedback('correctness', true, { rationale: 'The response is accurate' }));
      await f.log('trace2', { ...feedback('correctness', false), source: { source_type: 'LLM_JUDGE', source_id: 'gpt-4' } });
      await f.log('trace2', feedback('helpfulness', 5));
      await f.log('trace1', feedback('quality', 'high'));
      await f.log('trace3', expectation('response_length', 150));
      await f.log('trace4', expectation('response_length', 200));
      await f.log('trace4', expectation('latency_ms', 1000));
      await f.log('trace3', expectation('priority', 'urgent'));
    });
    searchCases(() => search, [
      ['feedback.correctness = "true"', ['trace1']],
      ['feedback.correctness = "false"', ['trace2']],
      ['feedback.helpfulness = "5"', ['trace2']],
      ['feedback.quality = "high"', ['trace1']],
      ['expectation.response_length = "150"', ['trace3']],
      ['expectation.response_length = "200"', ['trace4']],
      ['expectation.latency_ms = "1000"', ['trace4']],
      ['expectation.priority = "urgent"', ['trace3']],
      ['expectation.response_length = "200" AND expectation.latency_ms = "1000"', ['trace4']],
      ['feedback.nonexistent = "value"', []],
      ['expectation.nonexistent = "value"', []],
      // Single quotes mean the same; != needs the assessment, as tags do.
      ["feedback.correctness = 'true'", ['trace1']],
      ["feedback.correctness != 'true'", ['trace2']],
      // Numeric comparison, Threadline's extension (decision 3).
      ['feedback.helpfulness >= 4', ['trace2']],
      ["feedback.helpfulness < '5'", []],
      ['feedback.helpfulness = 5', ['trace2']],
    ]);
  });

  describe('test_search_traces_with_feedback_like_filters and _rlike_filters', () => {
    let search: (filter: string) => Promise<string[]>;
    beforeAll(async () => {
      const f = await fixture(['trace1', 'trace2', 'trace3']);
      search = f.search;
      await f.log('trace1', feedback('comment', 'Great response! Very helpful.'));
      await f.log('trace2', feedback('comment', 'Response was okay but could be better.'));
      await f.log('trace3', feedback('comment', 'Not helpful at all.'));
    });
    searchCases(() => search, [
      ['feedback.comment LIKE "%helpful%"', ['trace1', 'trace3']],
      ['feedback.comment ILIKE "%GREAT%"', ['trace1']],
      ['feedback.comment LIKE "%okay%"', ['trace2']],
      ['feedback.comment RLIKE "Great.*helpful"', ['trace1']],
      ['feedback.comment RLIKE "(okay|better)"', ['trace2']],
      ['feedback.comment RLIKE "Not.*all"', ['trace3']],
      // Patterns run on the stored JSON text, quotes included, as in MLflow.
      ["feedback.comment LIKE '\"Not%'", ['trace3']],
    ]);
  });

  describe('test_search_traces_with_assessment_is_null_filters', () => {
    let search: (filter: string) => Promise<string[]>;
    beforeAll(async () => {
      const f = await fixture(['trace1', 'trace2', 'trace3', 'trace4', 'trace5']);
      search = f.search;
      await f.log('trace1', feedback('quality', 'good'));
      await f.log('trace2', feedback('quality', 'bad'));
      await f.log('trace4', expectation('score', 85));
    });
    searchCases(() => search, [
      ['feedback.quality IS NOT NULL', ['trace1', 'trace2']],
      ['feedback.quality IS NULL', ['trace3', 'trace4', 'trace5']],
      ['expectation.score IS NOT NULL', ['trace4']],
      ['expectation.score IS NULL', ['trace1', 'trace2', 'trace3', 'trace5']],
      ['feedback.quality IS NOT NULL AND feedback.quality = "good"', ['trace1']],
    ]);
  });

  describe('test_search_traces_with_feedback_filters_excludes_invalid_assessments', () => {
    let f: Awaited<ReturnType<typeof fixture>>;
    let override: string;
    beforeAll(async () => {
      f = await fixture(['trace1', 'trace2']);
      const original = await f.log('trace1', feedback('correctness', 'no'));
      override = await f.log('trace1', feedback('correctness', 'yes', { overrides: original }));
      await f.log('trace2', feedback('correctness', 'no'));
    });
    searchCases(() => f.search, [
      ['feedback.correctness = "yes"', ['trace1']],
      ['feedback.correctness = "no"', ['trace2']],
      ['feedback.correctness IS NOT NULL', ['trace1', 'trace2']],
    ]);
    it('finds the overridden value again once the override is deleted', async () => {
      expect((await api.remove(f.id('trace1'), override)).statusCode).toBe(200);
      expect(await f.search('feedback.correctness = "no"')).toEqual(['trace1', 'trace2']);
      expect(await f.search('feedback.correctness = "yes"')).toEqual([]);
    });
  });

  describe('test_search_traces_session_scoped_assessment_expands_to_all_session_traces', () => {
    let search: (filter: string) => Promise<string[]>;
    beforeAll(async () => {
      const sessions = { 'sa-t1': 'session-a', 'sa-t2': 'session-a', 'sa-t3': 'session-a', 'sb-t1': 'session-b', 'sb-t2': 'session-b', 'sb-t3': 'session-b' };
      const f = await fixture(Object.keys(sessions), sessions);
      search = f.search;
      await f.log('sa-t1', feedback('session_quality', 'good', { metadata: { 'mlflow.trace.session': 'session-a' } }));
      await f.log('sb-t1', feedback('trace_quality', 'bad'));
    });
    searchCases(() => search, [
      ['feedback.session_quality = "good"', ['sa-t1', 'sa-t2', 'sa-t3']],
      ['feedback.session_quality IS NOT NULL', ['sa-t1', 'sa-t2', 'sa-t3']],
      ['feedback.trace_quality = "bad"', ['sb-t1']],
      ['feedback.trace_quality IS NOT NULL', ['sb-t1']],
      ['feedback.session_quality IS NULL', ['sb-t1', 'sb-t2', 'sb-t3']],
    ]);
  });

  describe('test_search_traces_with_expectation_like_filters', () => {
    let search: (filter: string) => Promise<string[]>;
    beforeAll(async () => {
      const f = await fixture(['trace1', 'trace2', 'trace3']);
      search = f.search;
      await f.log('trace1', expectation('output_format', 'JSON with nested structure'));
      await f.log('trace2', expectation('output_format', 'XML document'));
      await f.log('trace3', expectation('output_format', 'JSON array'));
    });
    searchCases(() => search, [
      ['expectation.output_format LIKE "%JSON%"', ['trace1', 'trace3']],
      ['expectation.output_format ILIKE "%xml%"', ['trace2']],
      ['expectation.output_format LIKE "%nested%"', ['trace1']],
    ]);
  });

  describe('values compared as MLflow stores them (json.dumps)', () => {
    let search: (filter: string) => Promise<string[]>;
    beforeAll(async () => {
      const f = await fixture(['trace1', 'trace2', 'trace3']);
      search = f.search;
      await f.log('trace1', feedback('labels', { tone: 'calm', score: 2 }));
      await f.log('trace2', feedback('mood', 'café'));
      await f.log('trace3', feedback('user satisfaction', 'yes'));
    });
    searchCases(() => search, [
      // Python writes ", " and ": " between items, so MLflow's patterns see them.
      ["feedback.labels LIKE '%\"tone\": \"calm\"%'", ['trace1']],
      ['feedback.labels = \'{"tone": "calm", "score": 2}\'', ['trace1']],
      ["feedback.mood = 'café'", ['trace2']],
      ["feedback.`user satisfaction` = 'yes'", ['trace3']],
    ]);
  });
});

describe('pythonJsonText', () => {
  it.each([
    [true, 'true'],
    [5, '5'],
    [0.25, '0.25'],
    [1e-7, '1e-07'],
    [1.5e20, '1.5e+20'],
    ['é', '"\\u00e9"'],
    ['😀', '"\\ud83d\\ude00"'],
    [{ a: [1, 'b'], c: null }, '{"a": [1, "b"], "c": null}'],
  ])('writes %j as json.dumps does', (value, text) => {
    expect(pythonJsonText(value)).toBe(text);
  });
});
