import type { LightMyRequestResponse } from 'fastify';
import { expect, it } from 'vitest';
import { stringifyJson } from '../src/json.js';
import { DETECTOR_NAMES } from '../src/redaction/detectors.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { traceKeysOf } from '../src/store/trace-rows.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId, startTraceBody, tracesJsonPath } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest, toProtobuf } from './support/otlp-payloads.js';
import { JSON_HEADERS, useTestApp, type TestApp } from './support/test-app.js';

/**
 * Redaction at ingest, on every way in (MLflow REST trace info and span uploads, OTLP JSON and
 * protobuf, tags, assessments): one secret per rule goes in, and nothing stored holds it
 * afterwards. User and session ids go in as an e-mail address and a phone number, and come out
 * as they went in.
 */
const SECRETS: [rule: string, secret: string, stored: string][] = [
  ['email', 'alice@example.com', '[REDACTED:email]'],
  ['phone', '+1 (415) 555-2671', '[REDACTED:phone]'],
  ['credit_card', '4111 1111 1111 1111', '[REDACTED:credit_card]'],
  ['api_key', 'sk-proj-abc123DEF456ghi789JKL012', '[REDACTED:api_key]'],
  ['bearer_token', 'Bearer eyJhbGciOiJIUzI1NiJ9.c2lnbmF0dXJl0', 'Bearer [REDACTED:bearer_token]'],
  ['employee_id', 'EMP-123456', '[REDACTED:employee_id]'],
];
const PLAIN = SECRETS.map(([, secret]) => secret).join(', ');
const REDACTED = SECRETS.map(([, , stored]) => stored).join(', ');
/** What must appear nowhere once stored: a distinctive piece of each secret. */
const FRAGMENTS = ['alice@example.com', '555-2671', '4111 1111', 'abc123DEF456', 'eyJhbGciOiJIUzI1NiJ9', 'EMP-123456'];

const USER = 'carol@example.org';
const SESSION = 'support +44 20 7946 0958';
/** A model whose name a custom pattern matches: kept, since cost is read from it. */
const MODEL = 'ft:gpt-4o:EMP-654321';

const SERVER_RULES = { detectors: [...DETECTOR_NAMES], patterns: [{ name: 'employee_id', pattern: 'EMP-\\d{6}' }] };

/** Every row a trace's writes touch, as text: what a database dump would show. */
async function storedText(store: KyselyTraceStore, experimentId: string): Promise<string> {
  const db = store.db;
  const traceIds = (await db.selectFrom('traces').select('trace_id').where('experiment_id', '=', Number(experimentId)).execute()).map((r) => r.trace_id);
  if (traceIds.length === 0) return '';
  return stringifyJson([
    await db.selectFrom('traces').selectAll().where('trace_id', 'in', traceIds).execute(),
    await db.selectFrom('trace_metadata').selectAll().where('trace_key', 'in', traceKeysOf(db, traceIds)).execute(),
    await db.selectFrom('trace_tags').selectAll().where('trace_key', 'in', traceKeysOf(db, traceIds)).execute(),
    await db.selectFrom('spans').selectAll().where('trace_key', 'in', traceKeysOf(db, traceIds)).execute(),
    await db.selectFrom('assessments').selectAll().where((eb) => eb.or([eb('trace_id', 'in', traceIds), eb('experiment_id', '=', Number(experimentId))])).execute(),
    await db.selectFrom('sessions').selectAll().where('experiment_id', '=', Number(experimentId)).execute(),
    await db.selectFrom('users').selectAll().where('experiment_id', '=', Number(experimentId)).execute(),
  ]);
}

async function expectNoSecretStored(t: TestApp, experimentId: string): Promise<string> {
  const text = await storedText(t.store, experimentId);
  for (const fragment of FRAGMENTS) expect(text, `'${fragment}' is stored`).not.toContain(fragment);
  return text;
}

const ok = (res: LightMyRequestResponse) => {
  expect(res.statusCode, res.body).toBe(200);
  return res;
};

const newExperiment = async (t: TestApp, name: string): Promise<string> => ok(await t.post('/api/2.0/mlflow/experiments/create', { name })).json().experiment_id as string;

const put = (t: TestApp, url: string, body: unknown) => t.app.inject({ method: 'PUT', url, headers: JSON_HEADERS, payload: typeof body === 'string' ? body : JSON.stringify(body) });
const patch = (t: TestApp, url: string, body: unknown) => t.app.inject({ method: 'PATCH', url, headers: JSON_HEADERS, payload: JSON.stringify(body) });

/** The uploaded span's attributes, with `content` where secrets go: ids, type, model, usage and user are never redacted. */
function spanAttributes(traceId: string, content: string): Record<string, unknown> {
  return {
    'mlflow.traceRequestId': traceId,
    'mlflow.spanType': 'CHAT_MODEL',
    'mlflow.spanInputs': { messages: [{ role: 'user', content }], nested: { deeper: [content, 42] } },
    'mlflow.spanOutputs': content,
    'mlflow.llm.model': MODEL,
    'mlflow.chat.tokenUsage': { input_tokens: 12, output_tokens: 5, total_tokens: 17 },
    'app.customer': content,
    'user.id': USER,
  };
}

/** A `traces.json` upload: a root span that failed, with secrets in its inputs, outputs, attributes, status and exception. */
function spansBody(traceId: string): string {
  return JSON.stringify({
    spans: [
      {
        trace_id: 'AAAAAAAAAAAAAAAAAAAAAA==',
        span_id: '8MA1SDFQpsg=',
        parent_span_id: '',
        name: 'chat',
        start_time_unix_nano: '1795463486775000000',
        end_time_unix_nano: '1795463486777000000',
        status: { code: 'STATUS_CODE_ERROR', message: `failed for ${PLAIN}` },
        attributes: spanAttributes(traceId, PLAIN),
        events: [{ name: 'exception', time_unix_nano: '1795463486776000000', attributes: { 'exception.type': 'Error', 'exception.message': PLAIN } }],
      },
    ],
  });
}

describeEachDatabase('redaction by the server’s rules', (database) => {
  const t = useTestApp(database, { redaction: SERVER_RULES });
  let experimentId = '';

  it('redacts trace info (previews, metadata, tags) and keeps user and session ids', async () => {
    experimentId = await newExperiment(t, 'redacted');
    const traceId = newTraceId();
    const body = startTraceBody({
      traceId,
      experimentId,
      user: USER,
      session: SESSION,
      requestPreview: `{"q":"${PLAIN}"}`,
      responsePreview: PLAIN,
      metadata: { 'mlflow.traceInputs': `{"q":"${PLAIN}"}`, 'mlflow.traceOutputs': PLAIN, 'app.note': PLAIN },
      tags: { note: PLAIN, 'mlflow.traceName': 'chat' },
    });
    const info = ok(await t.post('/api/3.0/mlflow/traces', body)).json().trace.trace_info;
    expect(info.request_preview).toBe(`{"q":"${REDACTED}"}`);
    expect(info.response_preview).toBe(REDACTED);
    expect(info.trace_metadata).toMatchObject({
      'mlflow.trace.user': USER,
      'mlflow.trace.session': SESSION,
      'mlflow.traceInputs': `{"q":"${REDACTED}"}`,
      'mlflow.traceOutputs': REDACTED,
      'app.note': REDACTED,
    });
    expect(info.tags).toMatchObject({ note: REDACTED, 'mlflow.traceName': 'chat' });
    // A client's retry is the same trace: redaction gives the same text every time.
    ok(await t.post('/api/3.0/mlflow/traces', body));

    const stored = await expectNoSecretStored(t, experimentId);
    expect(stored).toContain(USER);
    expect(stored).toContain(SESSION);
    const sessions = ok(await t.post('/api/threadline/sessions/search', { experiment_id: experimentId })).json().sessions as { session_id: string }[];
    expect(sessions.map((s) => s.session_id)).toEqual([SESSION]);
    const users = ok(await t.post('/api/threadline/users/search', { experiment_id: experimentId })).json().users as { user_id: string }[];
    expect(users.map((u) => u.user_id)).toEqual([USER]);
  });

  it('redacts uploaded spans: nested inputs, outputs, attributes, status, exceptions; not ids, type, model or usage', async () => {
    const traceId = newTraceId();
    ok(await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, experimentId, user: USER, session: SESSION })));
    ok(await put(t, tracesJsonPath(traceId, experimentId), spansBody(traceId)));
    // The retry of an upload is accepted: its spans are redacted to what is stored.
    ok(await put(t, tracesJsonPath(traceId, experimentId), spansBody(traceId)));

    const [span] = ok(await t.get(tracesJsonPath(traceId, experimentId))).json().spans as { status: { message: string }; attributes: Record<string, string>; events: { attributes: Record<string, string> }[] }[];
    const attributes = Object.fromEntries(Object.entries(span!.attributes).map(([k, v]) => [k, JSON.parse(v) as unknown]));
    expect(attributes).toEqual(spanAttributes(traceId, REDACTED));
    expect(span!.status.message).toBe(`failed for ${REDACTED}`);
    expect(span!.events[0]!.attributes).toEqual({ 'exception.type': 'Error', 'exception.message': REDACTED });

    // What the trace is counted and priced from is as the client sent it.
    const trace = (await t.store.getTrace(traceId))!;
    expect(trace.tokenUsage).toEqual({ inputTokens: 12, outputTokens: 5, totalTokens: 17 });
    const calls = await t.store.db.selectFrom('llm_calls').select('model').where('trace_key', '=', traceKeysOf(t.store.db, traceId)).execute();
    expect(calls).toEqual([{ model: MODEL }]);
    await expectNoSecretStored(t, experimentId);
  });

  for (const encoding of ['json', 'protobuf'] as const) {
    it(`redacts OTLP spans sent as ${encoding}, and the previews and metadata derived from them`, async () => {
      const hex = hexTraceId();
      const root = hexSpanId();
      const request = otlpRequest([
        {
          traceId: hex,
          spanId: root,
          name: 'agent',
          statusCode: 2,
          statusMessage: PLAIN,
          attributes: { 'user.id': USER, 'session.id': SESSION, 'input.value': PLAIN, 'output.value': `done: ${PLAIN}`, 'metadata.customer': 'alice@example.com' },
          events: [{ name: 'exception', attributes: { 'exception.type': 'Error', 'exception.message': PLAIN } }],
        },
        {
          traceId: hex,
          spanId: hexSpanId(),
          parentSpanId: root,
          name: 'llm',
          attributes: {
            'gen_ai.operation.name': 'chat',
            'gen_ai.request.model': MODEL,
            'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: PLAIN }] }]),
            'gen_ai.usage.input_tokens': 12,
            'gen_ai.usage.output_tokens': 5,
          },
        },
      ]);
      const res = await t.app.inject({
        method: 'POST',
        url: '/v1/traces',
        headers: { 'content-type': encoding === 'json' ? 'application/json' : 'application/x-protobuf', 'x-mlflow-experiment-id': experimentId },
        payload: encoding === 'json' ? JSON.stringify(request) : toProtobuf(request),
      });
      ok(res);

      const trace = (await t.store.getTrace(`tr-${hex}`))!;
      expect(trace.userId).toBe(USER);
      expect(trace.sessionId).toBe(SESSION);
      expect(trace.requestPreview).toBe(REDACTED);
      expect(trace.responsePreview).toBe(`done: ${REDACTED}`);
      expect(trace.metadata).toMatchObject({ 'mlflow.trace.user': USER, 'mlflow.trace.session': SESSION, 'otel.metadata.customer': '[REDACTED:email]' });
      expect(trace.tokenUsage).toEqual({ inputTokens: 12, outputTokens: 5, totalTokens: 17 });

      const spans = (await t.store.getSpans(`tr-${hex}`)).map((s) => JSON.parse(s.contentJson) as { name: string; status: { message: string }; attributes: Record<string, string>; events: { attributes: Record<string, unknown> }[] });
      const agent = spans.find((s) => s.name === 'agent')!;
      const llm = spans.find((s) => s.name === 'llm')!;
      expect(JSON.parse(agent.attributes['mlflow.spanInputs']!)).toBe(REDACTED);
      expect(JSON.parse(agent.attributes['input.value']!)).toBe(REDACTED);
      expect(JSON.parse(agent.attributes['user.id']!)).toBe(USER);
      expect(JSON.parse(agent.attributes['session.id']!)).toBe(SESSION);
      expect(agent.status.message).toBe(REDACTED);
      expect(agent.events[0]!.attributes['exception.message']).toBe(REDACTED);
      expect(JSON.parse(llm.attributes['mlflow.spanInputs']!)).toEqual([{ role: 'user', parts: [{ type: 'text', content: REDACTED }] }]);
      expect(JSON.parse(llm.attributes['gen_ai.request.model']!)).toBe(MODEL);
      expect(JSON.parse(llm.attributes['mlflow.llm.model']!)).toBe(MODEL);
      await expectNoSecretStored(t, experimentId);
    });
  }

  it('redacts tags set later and assessments: rationale, value, metadata; not names and sources', async () => {
    const traceId = newTraceId();
    ok(await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, experimentId, user: USER, session: SESSION })));
    ok(await patch(t, `/api/3.0/mlflow/traces/${traceId}/tags`, { key: 'note', value: PLAIN }));
    expect((await t.store.getTrace(traceId))!.tags.note).toBe(REDACTED);

    const created = ok(
      await t.post(`/api/3.0/mlflow/traces/${traceId}/assessments`, {
        assessment: { assessment_name: 'correct', source: { source_type: 'HUMAN', source_id: USER }, expectation: { value: PLAIN }, rationale: PLAIN, metadata: { why: PLAIN } },
      }),
    ).json().assessment;
    expect(created).toMatchObject({ assessment_name: 'correct', source: { source_id: USER }, expectation: { value: REDACTED }, rationale: REDACTED, metadata: { why: REDACTED } });
    const updated = await patch(t, `/api/3.0/mlflow/traces/${traceId}/assessments/${created.assessment_id}`, {
      assessment: { rationale: `now ${PLAIN}` },
      update_mask: 'rationale',
    });
    expect(ok(updated).json().assessment.rationale).toBe(`now ${REDACTED}`);
    const onSession = ok(
      await t.post(`/api/threadline/sessions/${encodeURIComponent(SESSION)}/assessments`, {
        experiment_id: experimentId,
        assessment: { assessment_name: 'resolved', source: { source_type: 'LLM_JUDGE', source_id: 'judge' }, feedback: { value: false, error: { error_code: 'X', error_message: PLAIN } }, rationale: PLAIN },
      }),
    ).json().assessment;
    expect(onSession).toMatchObject({ rationale: REDACTED, feedback: { error: { error_message: REDACTED } } });
    await expectNoSecretStored(t, experimentId);
  });

  it('shows the server’s rules, patterns by name only', async () => {
    const res = ok(await t.get(`/api/threadline/experiments/${experimentId}/redaction`)).json();
    expect(res).toEqual({
      experiment_id: experimentId,
      rules: { detectors: [], patterns: [] },
      server_rules: { detectors: [...DETECTOR_NAMES], patterns: [{ name: 'employee_id' }] },
    });
  });
});

describeEachDatabase('redaction by an experiment’s own rules', (database) => {
  const t = useTestApp(database);
  const rulesUrl = (id: string) => `/api/threadline/experiments/${id}/redaction`;
  const logPreview = async (experimentId: string, preview: string): Promise<string> => {
    const traceId = newTraceId();
    return ok(await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, experimentId, requestPreview: preview }))).json().trace.trace_info.request_preview as string;
  };

  it('applies what is set, only in its experiment, until it is removed', async () => {
    const ruled = await newExperiment(t, 'ruled');
    const other = await newExperiment(t, 'other');
    expect(ok(await t.get(rulesUrl(ruled))).json()).toEqual({ experiment_id: ruled, rules: { detectors: [], patterns: [] }, server_rules: { detectors: [], patterns: [] } });

    const rules = { detectors: ['credit_card', 'email'], patterns: [{ name: 'employee_id', pattern: 'EMP-\\d{6}' }] };
    const set = ok(await put(t, rulesUrl(ruled), rules)).json();
    // Listed in the detectors' own order, whatever order they were sent in.
    expect(set).toMatchObject({ experiment_id: ruled, rules: { detectors: ['email', 'credit_card'], patterns: rules.patterns }, updated_by: 'anonymous' });
    expect(typeof set.updated_time_ms).toBe('number');
    expect(ok(await t.get(rulesUrl(ruled))).json()).toEqual(set);

    // At once: this replica read them again when they were set.
    expect(await logPreview(ruled, PLAIN)).toBe(
      '[REDACTED:email], +1 (415) 555-2671, [REDACTED:credit_card], sk-proj-abc123DEF456ghi789JKL012, Bearer eyJhbGciOiJIUzI1NiJ9.c2lnbmF0dXJl0, [REDACTED:employee_id]',
    );
    expect(await logPreview(other, PLAIN)).toBe(PLAIN);

    ok(await put(t, rulesUrl(ruled), {}));
    expect(ok(await t.get(rulesUrl(ruled))).json()).toEqual({ experiment_id: ruled, rules: { detectors: [], patterns: [] }, server_rules: { detectors: [], patterns: [] } });
    expect(await logPreview(ruled, PLAIN)).toBe(PLAIN);
  });

  it('refuses rules that cannot be used, and answers 404 for an unknown experiment', async () => {
    const id = await newExperiment(t, 'refusals');
    const refusals: [unknown, RegExp][] = [
      [{ detectors: ['ssn'] }, /Unknown detectors 'ssn'/],
      [{ patterns: [{ name: 'p', pattern: '(' }] }, /not a valid RE2/],
      [{ patterns: [{ name: 'p', pattern: '(?<=x)y' }] }, /not a valid RE2/],
      [{ patterns: [{ name: 'p', pattern: 'x?' }] }, /matches empty text/],
      [{ patterns: [{ name: 'p q', pattern: 'x' }] }, /must start with a letter/],
      [{ patterns: [{ name: 'p', pattern: 'x' }, { name: 'p', pattern: 'y' }] }, /unique/],
      [{ patterns: 'x' }, /'patterns' must be a list/],
      ['[1]', /must be a JSON object|must be an object/],
    ];
    for (const [body, message] of refusals) {
      const res = await put(t, rulesUrl(id), body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE', message: expect.stringMatching(message) });
    }
    expect(ok(await t.get(rulesUrl(id))).json().rules).toEqual({ detectors: [], patterns: [] });
    expect((await t.get(rulesUrl('987654'))).statusCode).toBe(404);
    expect((await put(t, rulesUrl('987654'), {})).statusCode).toBe(404);
  });

  it('takes a pattern that would backtrack for ever elsewhere, and ingests with it at once', async () => {
    const id = await newExperiment(t, 'hostile');
    ok(await put(t, rulesUrl(id), { patterns: [{ name: 'evil', pattern: '(a+)+$' }] }));
    const traceId = newTraceId();
    ok(await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId, experimentId: id })));
    const near = `${'a'.repeat(100_000)}!`;
    const body = JSON.stringify({
      spans: [
        {
          span_id: '8MA1SDFQpsg=',
          name: 'root',
          start_time_unix_nano: '1795463486775000000',
          end_time_unix_nano: '1795463486777000000',
          attributes: { 'mlflow.traceRequestId': traceId, 'mlflow.spanInputs': { near, full: 'a'.repeat(100_000) } },
        },
      ],
    });
    const started = performance.now();
    ok(await put(t, tracesJsonPath(traceId, id), body));
    expect(performance.now() - started).toBeLessThan(10_000);
    const [span] = await t.store.getSpans(traceId);
    expect(JSON.parse(JSON.parse(span!.contentJson).attributes['mlflow.spanInputs'])).toEqual({ near, full: '[REDACTED:evil]' });
  });
});
