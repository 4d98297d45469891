import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SpanRecord } from '../src/trace-model.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { DELETE_BATCH } from '../src/store/trace-writes.js';
import { recountedRollups, storedRollups } from './support/rollup-recount.js';
import { traceRecord } from './support/store-inputs.js';

function span(spanId: string, parent: string | null, usage?: number): SpanRecord {
  return {
    spanId,
    parentSpanId: parent,
    name: `span-${spanId.slice(-2)}`,
    type: 'LLM',
    status: 'OK',
    statusMessage: '',
    startNs: 1795463486775000000n + BigInt(parseInt(spanId.slice(-2), 16)),
    endNs: 1795463486776000000n,
    attributes: usage === undefined ? {} : { 'mlflow.chat.tokenUsage': { input_tokens: usage, output_tokens: usage, total_tokens: 2 * usage } },
    events: [],
  };
}

describeEachDatabase('sessions and users rollups', (database) => {
  let db: TestStore;
  beforeAll(async () => {
    db = await database.open();
  });
  afterAll(async () => db.close());

  const session = (id: string) => db.store.db.selectFrom('sessions').selectAll().where('session_id', '=', id).executeTakeFirst();
  const user = (id: string) => db.store.db.selectFrom('users').selectAll().where('user_id', '=', id).executeTakeFirst();

  it('counts turns, errors, tokens and users, and keeps first input and last output whatever the arrival order', async () => {
    const turns = [
      traceRecord({ session: 'conv-1', user: 'alice', requestTimeMs: 3000, requestPreview: 'third?', responsePreview: 'third!', tokens: 30 }),
      traceRecord({ session: 'conv-1', user: 'alice', requestTimeMs: 1000, requestPreview: 'first?', responsePreview: 'first!', tokens: 10, state: 'ERROR' }),
      traceRecord({ session: 'conv-1', user: 'bob', requestTimeMs: 2000, requestPreview: 'second?', responsePreview: 'second!', executionDurationMs: 5000 }),
    ];
    for (const t of turns) expect((await db.store.startTrace(t)).kind).toBe('created');
    const s = await session('conv-1');
    expect(s).toMatchObject({ first_request_preview: 'first?', last_response_preview: 'third!', first_trace_id: turns[1]!.traceId, last_trace_id: turns[0]!.traceId });
    expect([s!.trace_count, s!.error_count, s!.user_count, s!.input_tokens, s!.total_tokens].map(Number)).toEqual([3, 1, 2, 40, 42]);
    expect([s!.first_time, s!.last_time, s!.last_end_time].map(Number)).toEqual([1000, 3000, 7000]);
    const a = await user('alice');
    expect([a!.trace_count, a!.session_count, a!.error_count, a!.first_time, a!.last_time].map(Number)).toEqual([2, 1, 1, 1000, 3000]);
  });

  it('counts a user across sessions once per session', async () => {
    for (const s of ['x-1', 'x-2', 'x-2']) await db.store.startTrace(traceRecord({ session: s, user: 'carol' }));
    await db.store.startTrace(traceRecord({ user: 'carol' }));
    const c = await user('carol');
    expect([Number(c!.trace_count), Number(c!.session_count)]).toEqual([4, 2]);
  });

  it('takes tokens from spans when metadata has none, without counting a child twice', async () => {
    const trace = traceRecord({ session: 'span-tokens', user: 'dave' });
    await db.store.startTrace(trace);
    // The root reports 5 (its LLM child's usage rolled up); the child's 5 must not be added again.
    await db.store.logSpans(trace.traceId, [span('00000000000000a1', null, 5), span('00000000000000a2', '00000000000000a1', 5), span('00000000000000a3', null, 2)]);
    const stored = (await db.store.getTrace(trace.traceId))!;
    expect(stored.tokenUsage).toEqual({ inputTokens: 7, outputTokens: 7, totalTokens: 14 });
    expect(stored.name).toBe('span-a1');
    expect(stored.spanCount).toBe(3);
    expect(Number((await session('span-tokens'))!.total_tokens)).toBe(14);
    expect(Number((await user('dave'))!.total_tokens)).toBe(14);
  });

  it('takes a session\'s first input and last output from its trace\'s spans when its info had none', async () => {
    // The info says when (the same times as its spans will) but has no previews: its root span's inputs and outputs give them.
    const trace = traceRecord({ session: 'span-previews', user: 'erin', requestTimeMs: 1795463486775, executionDurationMs: 1 });
    await db.store.startTrace(trace);
    expect(await session('span-previews')).toMatchObject({ first_request_preview: null, last_response_preview: null });
    const root = { ...span('00000000000000b1', null, 4), attributes: { 'mlflow.spanInputs': 'where is my parcel?', 'mlflow.spanOutputs': 'in Rotterdam', 'mlflow.chat.tokenUsage': { input_tokens: 4, output_tokens: 4, total_tokens: 8 } } };
    expect((await db.store.logSpans(trace.traceId, [root])).kind).toBe('stored');
    const stored = (await db.store.getTrace(trace.traceId))!;
    expect([stored.requestPreview, stored.responsePreview]).toEqual(['where is my parcel?', 'in Rotterdam']);
    const s = await session('span-previews');
    expect(s).toMatchObject({ first_request_preview: stored.requestPreview, last_response_preview: stored.responsePreview });
    expect([s!.first_time, s!.last_end_time, s!.total_tokens].map(Number)).toEqual([1795463486775, 1795463486776, 8]);
  });

  it('moves counters when a re-logged trace changes state', async () => {
    const trace = traceRecord({ session: 'relog', user: 'erin', state: 'IN_PROGRESS' });
    await db.store.startTrace({ ...trace, metadata: { ...trace.metadata } });
    // Info first logged without the server's finalized flag would be from OTLP; here the
    // client re-logs identical metadata with a final state.
    expect((await db.store.startTrace({ ...trace, state: 'ERROR' })).kind).toBe('updated');
    expect(Number((await session('relog'))!.error_count)).toBe(1);
    expect(Number((await session('relog'))!.trace_count)).toBe(1);
    expect(Number((await user('erin'))!.error_count)).toBe(1);
  });

  it('rebuilds rollups after deletes, removing emptied ones', async () => {
    const traces = [1, 2, 3].map((i) => traceRecord({ session: 'doomed', user: i === 3 ? 'frank' : 'gina', requestTimeMs: i * 1000, requestPreview: `q${i}` }));
    for (const t of traces) await db.store.startTrace(t);
    await db.store.deleteTraces({ experimentId: '0', traceIds: [traces[0]!.traceId, traces[2]!.traceId] });
    const s = await session('doomed');
    expect([Number(s!.trace_count), Number(s!.user_count), s!.first_request_preview]).toEqual([1, 1, 'q2']);
    expect(await user('frank')).toBeUndefined();
    await db.store.deleteTraces({ experimentId: '0', traceIds: [traces[1]!.traceId] });
    expect(await session('doomed')).toBeUndefined();
    expect(await user('gina')).toBeUndefined();
  });

  it('deletes traces older than a time in batches, oldest first, each batch moving the rollups', async () => {
    const experimentId = await db.store.createExperiment({ name: `old-traces-${Date.now()}` });
    // More than two batches before the cut, and ten traces after it.
    const count = 2 * DELETE_BATCH + 40;
    const traces = Array.from({ length: count }, (_, i) => traceRecord({ experimentId, session: `old-s-${i % 7}`, user: `old-u-${i % 5}`, requestTimeMs: 1_000 + i * 1_000, tokens: i }));
    await Promise.all(traces.map((t) => db.store.startTrace(t)));
    const cut = 1_000 + (count - 11) * 1_000;
    const remaining = async () => (await db.store.db.selectFrom('traces').select('trace_id').where('experiment_id', '=', Number(experimentId)).orderBy('request_time').execute()).map((r) => r.trace_id);

    // A write sent while the delete runs is not held until all of it is done (SQLite's one writer
    // would otherwise serve nothing else meanwhile).
    let deleteDone = false;
    const deleting = db.store.deleteTraces({ experimentId, maxTimestampMillis: cut, maxTraces: 2 * DELETE_BATCH + 10 }).then((n) => {
      deleteDone = true;
      return n;
    });
    await db.store.startTrace(traceRecord({ session: 'meanwhile' }));
    if (database.name === 'sqlite') expect(deleteDone).toBe(false);
    expect(await deleting).toBe(2 * DELETE_BATCH + 10);
    expect(await remaining()).toEqual(traces.slice(2 * DELETE_BATCH + 10).map((t) => t.traceId));
    expect(await storedRollups(db.store.db, Number(experimentId))).toEqual(await recountedRollups(db.store.db, Number(experimentId)));

    expect(await db.store.deleteTraces({ experimentId, maxTimestampMillis: cut })).toBe(20);
    expect(await remaining()).toEqual(traces.slice(count - 10).map((t) => t.traceId));
    expect(await storedRollups(db.store.db, Number(experimentId))).toEqual(await recountedRollups(db.store.db, Number(experimentId)));
  });

  it('deletes a long list of named traces in batches too', async () => {
    const experimentId = await db.store.createExperiment({ name: `named-traces-${Date.now()}` });
    const traces = Array.from({ length: 2 * DELETE_BATCH + 5 }, (_, i) => traceRecord({ experimentId, session: `named-s-${i % 3}`, user: `named-u-${i % 4}`, requestTimeMs: 5_000 + i }));
    await Promise.all(traces.map((t) => db.store.startTrace(t)));
    const kept = traces.filter((_, i) => i % 50 === 0);
    const named = traces.filter((_, i) => i % 50 !== 0).map((t) => t.traceId);
    let deleteDone = false;
    const deleting = db.store.deleteTraces({ experimentId, traceIds: [...named, 'tr-00000000000000000000000000000000'] }).then((n) => {
      deleteDone = true;
      return n;
    });
    await db.store.startTrace(traceRecord({ session: 'meanwhile' }));
    if (database.name === 'sqlite') expect(deleteDone).toBe(false);
    expect(await deleting).toBe(named.length);
    const left = await db.store.db.selectFrom('traces').select('trace_id').where('experiment_id', '=', Number(experimentId)).orderBy('request_time').execute();
    expect(left.map((r) => r.trace_id)).toEqual(kept.map((t) => t.traceId));
    expect(await storedRollups(db.store.db, Number(experimentId))).toEqual(await recountedRollups(db.store.db, Number(experimentId)));
  });

  it('stays exact under concurrent writes of one session', async () => {
    const traces = Array.from({ length: 40 }, (_, i) => traceRecord({ session: 'busy', user: `u-${i % 4}`, requestTimeMs: 10_000 + i, tokens: 1, state: i % 5 === 0 ? 'ERROR' : 'OK' }));
    await Promise.all(traces.map((t) => db.store.startTrace(t)));
    // Retries of the same traces, concurrently: nothing may count twice.
    await Promise.all(traces.slice(0, 10).map((t) => db.store.startTrace(t)));
    const s = await session('busy');
    expect([s!.trace_count, s!.error_count, s!.user_count, s!.input_tokens].map(Number)).toEqual([40, 8, 4, 40]);
    expect(s!.first_trace_id).toBe(traces[0]!.traceId);
    expect(s!.last_trace_id).toBe(traces[39]!.traceId);
    for (let i = 0; i < 4; i++) expect(Number((await user(`u-${i}`))!.trace_count)).toBe(10);
  });

  it('keeps nanosecond times exact in stored span JSON', async () => {
    const trace = traceRecord({});
    await db.store.startTrace(trace);
    const s = span('00000000000000b1', null);
    s.startNs = 9007199254740993123n;
    await db.store.logSpans(trace.traceId, [s]);
    const [stored] = await db.store.getSpans(trace.traceId);
    expect(stored!.contentJson).toContain('"start_time_unix_nano":9007199254740993123');
  });
});
