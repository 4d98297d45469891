import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainDigest, subjectDigest } from '../src/store/erasures.js';
import { openSqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { KyselyTraceStore } from '../src/store/kysely-store.js';
import { assessmentClient, feedback } from './support/assessments.js';
import { describeEachDatabase } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest, type SpanSpec } from './support/otlp-payloads.js';
import { recountedRollups, storedRollups } from './support/rollup-recount.js';
import { useTestApp } from './support/test-app.js';

const T0 = Date.UTC(2026, 10, 10, 8);
const MINUTE = 60_000;
/** Text only alice's turns carry: it must be gone everywhere after her erase. */
const SECRET = 'alice-lives-at-42-acacia-avenue';

/** One turn over OTLP: a root with the user's message and an LLM call with a model and usage. */
function turn(user: string, session: string, minute: number, text: string): SpanSpec[] {
  const traceId = hexTraceId();
  const root: SpanSpec = { traceId, spanId: hexSpanId(), name: 'turn', startMs: T0 + minute * MINUTE, endMs: T0 + minute * MINUTE + 500, attributes: { 'user.id': user, 'session.id': session, 'input.value': text } };
  return [
    root,
    { traceId, spanId: hexSpanId(), parentSpanId: root.spanId, name: 'chat', startMs: T0 + minute * MINUTE + 10, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.system': 'openai', 'gen_ai.usage.input_tokens': 100, 'gen_ai.usage.output_tokens': 20 } },
  ];
}

describeEachDatabase('erasing a user or a session', (database) => {
  const t = useTestApp(database);
  const traces = assessmentClient(t);
  let experiment = '';
  let other = '';
  const aliceTraces: { id: string; minute: number }[] = [];
  let bobShared = '';

  const otlp = async (experimentId: string, spans: SpanSpec[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/traces', headers: { 'content-type': 'application/json', 'x-mlflow-experiment-id': experimentId }, payload: JSON.stringify(otlpRequest(spans)) });
    expect(res.statusCode, res.body).toBe(200);
    return `tr-${spans[0]!.traceId}`;
  };
  const search = async (experimentId: string, filter: string) => {
    const res = await t.post('/api/3.0/mlflow/traces/search', { locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } }], filter, max_results: 500 });
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().traces ?? []) as { trace_id: string }[];
  };

  beforeAll(async () => {
    experiment = (await t.post('/api/2.0/mlflow/experiments/create', { name: `erase-${newTraceId()}` })).json().experiment_id;
    other = (await t.post('/api/2.0/mlflow/experiments/create', { name: `erase-other-${newTraceId()}` })).json().experiment_id;
    // alice: her own conversation (s-alice, 60 turns: more than one batch) and turns in one shared with bob.
    for (let i = 0; i < 60; i++) aliceTraces.push({ id: await otlp(experiment, turn('alice', 's-alice', i, `${SECRET} turn ${i}`)), minute: i });
    aliceTraces.push({ id: await otlp(experiment, turn('alice', 's-shared', 70, `${SECRET} shared`)), minute: 70 });
    bobShared = await otlp(experiment, turn('bob', 's-shared', 71, 'bob asks'));
    await otlp(experiment, turn('bob', 's-bob', 72, 'bob alone'));
    // alice in another experiment too: a user's erase covers every experiment the caller manages.
    await otlp(other, turn('alice', 's-elsewhere', 5, `${SECRET} elsewhere`));
    // Feedback: on alice's turn, alice's thumbs-down on bob's turn, bob's on his own, and on alice's session.
    await traces.create(aliceTraces[0]!.id, feedback('user_satisfaction', true, { source: { source_type: 'HUMAN', source_id: 'alice' } }));
    await traces.create(bobShared, feedback('user_satisfaction', false, { source: { source_type: 'HUMAN', source_id: 'alice' } }));
    await traces.create(bobShared, feedback('user_satisfaction', true, { source: { source_type: 'HUMAN', source_id: 'bob' } }));
    const whole = await t.post('/api/threadline/sessions/s-alice/assessments', { experiment_id: experiment, assessment: feedback('resolved', false) });
    expect(whole.statusCode, whole.body).toBe(200);
  });

  it('erases every trace of the user in the experiment and answers a receipt that holds none of it', async () => {
    const res = await t.post('/api/threadline/users/alice/erase', { experiment_id: experiment });
    expect(res.statusCode, res.body).toBe(200);
    const receipt = res.json().erasure;
    expect(receipt).toMatchObject({
      kind: 'user',
      state: 'complete',
      experiment_ids: [experiment],
      subject_digest: subjectDigest('user', 'alice'),
      requested_by: 'anonymous',
      counts: { traces: 61, spans: 122, llm_calls: 61, assessments_given: 1, session_assessments: 1 },
    });
    // Trace-level assessments: the one on alice's own turn went with it.
    expect(receipt.counts.assessments).toBe(1);
    expect(receipt.completed_time_ms).toBeGreaterThanOrEqual(receipt.requested_time_ms);
    // The digest: the chain over her trace ids, oldest first, whatever the batches were.
    expect(receipt.trace_ids_digest).toBe(chainDigest('0'.repeat(64), aliceTraces.map((a) => a.id)));
    expect(JSON.stringify(receipt)).not.toContain('alice');
    const again = await t.get(`/api/threadline/erasures/${receipt.erasure_id}`);
    expect(again.json().erasure).toEqual(receipt);
    const listed = await t.get(`/api/threadline/erasures?experiment_id=${experiment}`);
    expect(listed.json().erasures.map((e: { erasure_id: string }) => e.erasure_id)).toContain(receipt.erasure_id);
  });

  it('leaves nothing that mentions the user: searches, sessions, users, metrics, assessments, spans', async () => {
    expect(await search(experiment, "metadata.`mlflow.trace.user` = 'alice'")).toEqual([]);
    expect(await search(experiment, `span.content LIKE '%${SECRET}%'`)).toEqual([]);
    const users = (await t.post('/api/threadline/users/search', { experiment_id: experiment })).json().users as { user_id: string }[];
    expect(users.map((u) => u.user_id)).toEqual(['bob']);
    const sessions = (await t.post('/api/threadline/sessions/search', { experiment_id: experiment, order_by: ['session_id ASC'] })).json().sessions as { session_id: string; user_ids: string[]; trace_count: number }[];
    // Her own conversation is gone; the shared one keeps bob's turn only.
    expect(sessions.map((s) => [s.session_id, s.user_ids, s.trace_count])).toEqual([['s-bob', ['bob'], 1], ['s-shared', ['bob'], 1]]);
    const byUser = (await t.post('/api/threadline/traces/metrics', { experiment_id: experiment, start_time_ms: T0 - MINUTE, end_time_ms: T0 + 2 * 60 * MINUTE, group_by: 'user' })).json();
    expect(byUser.groups.map((g: { key: string }) => g.key)).toEqual(['bob']);
    expect(byUser.buckets.reduce((n: number, b: { traces: number }) => n + b.traces, 0)).toBe(2);
    const bobsFeedback = (await t.get(`/api/3.0/mlflow/traces/${bobShared}`)).json().trace.trace_info.assessments as { source: { source_id: string } }[];
    expect(bobsFeedback.map((a) => a.source.source_id)).toEqual(['bob']);
    expect((await t.get(`/api/3.0/mlflow/traces/${aliceTraces[5]!.id}`)).statusCode).toBe(404);
    expect(await storedRollups(t.store.db, Number(experiment))).toEqual(await recountedRollups(t.store.db, Number(experiment)));
    // The other experiment was not named: her traces there stay.
    expect(await search(other, "metadata.`mlflow.trace.user` = 'alice'")).toHaveLength(1);
  });

  it('erases a user across every experiment the caller manages when none is named', async () => {
    const res = await t.post('/api/threadline/users/alice/erase', {});
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().erasure.counts.traces).toBe(1);
    expect(await search(other, "metadata.`mlflow.trace.user` = 'alice'")).toEqual([]);
    expect(await storedRollups(t.store.db, Number(other))).toEqual(await recountedRollups(t.store.db, Number(other)));
  });

  it('erases a session the same way, keeping its users\' other sessions', async () => {
    const res = await t.post('/api/threadline/sessions/s-shared/erase', { experiment_id: experiment });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().erasure).toMatchObject({ kind: 'session', state: 'complete', counts: { traces: 1 }, subject_digest: subjectDigest('session', 's-shared') });
    const sessions = (await t.post('/api/threadline/sessions/search', { experiment_id: experiment })).json().sessions as { session_id: string }[];
    expect(sessions.map((s) => s.session_id)).toEqual(['s-bob']);
    const users = (await t.post('/api/threadline/users/search', { experiment_id: experiment })).json().users as { user_id: string; trace_count: number; session_count: number }[];
    expect(users).toEqual([expect.objectContaining({ user_id: 'bob', trace_count: 1, session_count: 1 })]);
    expect(await storedRollups(t.store.db, Number(experiment))).toEqual(await recountedRollups(t.store.db, Number(experiment)));
  });

  it('resumes an erase that stopped half way (a crashed process) once its lease lapses', async () => {
    for (let i = 0; i < 12; i++) await otlp(experiment, turn('carol', 's-carol', 100 + i, `carol ${i}`));
    const erasureId = await t.store.erasures.start('user', 'carol', [experiment], 'test');
    // The process "dies" after its second batch.
    await expect(t.store.erasures.run(erasureId, { batchSize: 5, afterBatch: stopAfter(2) })).rejects.toThrow('crash');
    const half = await t.store.erasures.get(erasureId);
    expect(half).toMatchObject({ state: 'running', counts: { traces: 10 } });
    // Not resumed while the lease holds; resumed once it lapsed.
    expect(await t.store.erasures.resumeUnfinished()).toEqual([]);
    const [done] = await t.store.erasures.resumeUnfinished(Date.now() + 31_000);
    expect(done).toMatchObject({ erasureId, state: 'complete', counts: { traces: 12 } });
    expect(await search(experiment, "metadata.`mlflow.trace.user` = 'carol'")).toEqual([]);
    expect(await storedRollups(t.store.db, Number(experiment))).toEqual(await recountedRollups(t.store.db, Number(experiment)));
  });

  it('erases oldest first by (request_time, trace_id) across experiments, whatever the batches and however many traces share a time', async () => {
    // Seven turns at one minute in one experiment, four at the same minute in the other, and one on either side.
    const erin: { id: string; minute: number }[] = [];
    for (const [experimentId, minute, count] of [[experiment, 200, 7], [other, 200, 4], [other, 199, 1], [experiment, 201, 1]] as const) {
      for (let i = 0; i < count; i++) erin.push({ id: await otlp(experimentId, turn('erin', `s-erin-${experimentId}`, minute, `erin ${i}`)), minute });
    }
    const inOrder = [...erin].sort((a, b) => a.minute - b.minute || (a.id < b.id ? -1 : 1)).map((e) => e.id);
    const erasureId = await t.store.erasures.start('user', 'erin', [experiment, other], 'test');
    const receipt = await t.store.erasures.run(erasureId, { batchSize: 3 });
    expect(receipt).toMatchObject({ state: 'complete', counts: { traces: 13 } });
    expect(receipt.traceIdsDigest).toBe(chainDigest('0'.repeat(64), inOrder));
    expect(await storedRollups(t.store.db, Number(other))).toEqual(await recountedRollups(t.store.db, Number(other)));
  });

  it('refuses a bad request with MLflow error JSON', async () => {
    expect((await t.post('/api/threadline/sessions/s-bob/erase', {})).json()).toMatchObject({ error_code: 'INVALID_PARAMETER_VALUE' });
    expect((await t.post('/api/threadline/users/bob/erase', { experiment_id: '987654' })).statusCode).toBe(404);
    expect((await t.get('/api/threadline/erasures/er-nope')).statusCode).toBe(404);
  });
});

function stopAfter(batches: number): () => Promise<void> {
  let seen = 0;
  return async () => {
    if (++seen >= batches) throw new Error('crash');
  };
}

describe('erasing on SQLite leaves no readable trace of the user in the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'threadline-erase-'));
  const path = join(dir, 'store.db');
  let store: KyselyTraceStore;
  beforeAll(async () => {
    store = await openSqliteStore({ path, searchThreads: 0 });
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('overwrites the deleted content in the database and its WAL', async () => {
    const bytes = () => Buffer.concat([readFileSync(path), ...(existsSync(`${path}-wal`) ? [readFileSync(`${path}-wal`)] : [])]);
    for (let i = 0; i < 30; i++) {
      const traceId = `tr-${hexTraceId()}`;
      await store.ingestSpans('0', traceId, { metadata: { 'mlflow.trace.user': 'dave', 'mlflow.trace.session': 's-dave' }, tags: {}, name: null }, [
        { spanId: hexSpanId(), parentSpanId: null, name: 'turn', type: 'CHAIN', status: 'OK', statusMessage: '', startNs: BigInt(T0 + i) * 1_000_000n, endNs: BigInt(T0 + i + 5) * 1_000_000n, events: [], attributes: { 'mlflow.spanInputs': `${SECRET} zanzibarquux ${'x'.repeat(2000)} ${i}` } },
      ]);
    }
    expect(bytes().includes(SECRET)).toBe(true);
    expect(await store.db.selectFrom('trace_text_docs').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).toEqual({ n: 30 });
    const id = await store.erasures.start('user', 'dave', ['0'], 'test');
    const receipt = await store.erasures.run(id);
    expect(receipt.counts.traces).toBe(30);
    expect(bytes().includes(SECRET)).toBe(false);
    expect(bytes().includes('s-dave')).toBe(false);
    // Its words, split apart in the text index, too.
    expect(bytes().includes('zanzibarquux')).toBe(false);
  });
});
