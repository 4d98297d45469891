import { afterAll, beforeAll, expect, it } from 'vitest';
import type { SpanBatchFields, SpanRecord, TraceRecord } from '../src/trace-model.js';
import { describeEachDatabase, type TestStore } from './support/databases.js';
import { newTraceId } from './support/mlflow-payloads.js';
import { recountedRollups, storedRollups } from './support/rollup-recount.js';

const T0 = Date.UTC(2026, 10, 23, 12);

function span(id: string, o: Partial<SpanRecord> & { startMs?: number; endMs?: number } = {}): SpanRecord {
  const { startMs = T0, endMs = T0 + 100, ...rest } = o;
  return {
    spanId: id.padStart(16, '0'),
    parentSpanId: null,
    name: `span-${id}`,
    type: 'CHAIN',
    status: 'OK',
    statusMessage: '',
    startNs: BigInt(startMs) * 1_000_000n,
    endNs: BigInt(endMs) * 1_000_000n,
    attributes: { 'mlflow.spanInputs': `in-${id}`, 'mlflow.spanOutputs': `out-${id}` },
    events: [],
    ...rest,
  };
}

const fields = (metadata: Record<string, string> = {}): SpanBatchFields => ({ metadata, tags: {}, name: null });

/**
 * The store's rule for finished traces and write-once spans, on the ways in that are not plain
 * MLflow requests (http-finished-traces.test.ts has those): OTLP batches, info after spans.
 */
describeEachDatabase('finished traces and write-once spans in the store', (database) => {
  let db: TestStore;
  beforeAll(async () => {
    db = await database.open();
  });
  afterAll(async () => db.close());

  /** The trace, its spans and every rollup of experiment 0: what a refused or repeated write must leave as it was. */
  const snapshot = async (traceId: string) => ({
    trace: await db.store.getTrace(traceId),
    spans: await db.store.getSpans(traceId),
    rollups: await storedRollups(db.store.db, 0),
  });

  it('keeps a stored OTLP span when it is sent again with other content, and merges the rest of the batch', async () => {
    const traceId = newTraceId();
    const user = { 'mlflow.trace.user': 'u-otlp', 'mlflow.trace.session': 's-otlp' };
    expect(await db.store.ingestSpans('0', traceId, fields(user), [span('1', { parentSpanId: '0'.padStart(16, '0'), startMs: T0 + 10 })])).toEqual({ kind: 'created' });
    expect(await db.store.ingestSpans('0', traceId, fields(user), [span('0', { endMs: T0 + 500 })])).toEqual({ kind: 'merged' });
    const before = await snapshot(traceId);
    expect(before.trace).toMatchObject({ state: 'OK', requestTimeMs: T0, executionDurationMs: 500, spanCount: 2 });

    // An exporter's retry of the root: nothing changes.
    expect(await db.store.ingestSpans('0', traceId, fields(user), [span('0', { endMs: T0 + 500 })])).toEqual({ kind: 'merged' });
    expect(await snapshot(traceId)).toEqual(before);

    // The root again, now failed and longer, with a new span: the root stays as stored.
    const rewritten = await db.store.ingestSpans('0', traceId, fields(user), [span('0', { status: 'ERROR', endMs: T0 + 9000 }), span('2', { parentSpanId: '0'.padStart(16, '0'), startMs: T0 + 20 })]);
    expect(rewritten).toEqual({ kind: 'merged', rejectedSpanIds: ['0'.padStart(16, '0')] });
    const after = await snapshot(traceId);
    expect(after.trace).toMatchObject({ state: 'OK', requestTimeMs: T0, executionDurationMs: 500, spanCount: 3 });
    expect(after.spans.find((s) => s.spanId === '0'.padStart(16, '0'))).toEqual(before.spans.find((s) => s.spanId === '0'.padStart(16, '0')));
    expect(after.rollups).toEqual(await recountedRollups(db.store.db, 0));

    // A batch of nothing but rewrites changes nothing at all.
    expect(await db.store.ingestSpans('0', traceId, fields(user), [span('1', { name: 'renamed' })])).toEqual({ kind: 'merged', rejectedSpanIds: ['1'.padStart(16, '0')] });
    expect(await snapshot(traceId)).toEqual(after);
  });

  it('takes the first of two spans with one id in a batch, and says so', async () => {
    const traceId = newTraceId();
    expect(await db.store.ingestSpans('0', traceId, fields(), [span('5'), span('5', { status: 'ERROR' })])).toEqual({ kind: 'created', rejectedSpanIds: ['5'.padStart(16, '0')] });
    expect(await db.store.getTrace(traceId)).toMatchObject({ state: 'OK', spanCount: 1 });
  });

  it('lets the info that comes after OTLP spans say what happened, once; then only a retry is accepted', async () => {
    const traceId = newTraceId();
    await db.store.ingestSpans('0', traceId, fields({ 'mlflow.trace.user': 'u-late' }), [span('0', { endMs: T0 + 300 })]);
    const info: TraceRecord = {
      traceId,
      experimentId: '0',
      clientRequestId: 'req-late',
      requestTimeMs: T0 - 1000,
      executionDurationMs: 1300,
      state: 'ERROR',
      requestPreview: 'question',
      responsePreview: 'answer',
      metadata: { 'mlflow.trace.user': 'u-late' },
      tags: {},
    };
    expect((await db.store.startTrace(info)).kind).toBe('updated');
    const finished = await snapshot(traceId);
    expect(finished.trace).toMatchObject({ state: 'ERROR', requestTimeMs: T0 - 1000, requestPreview: 'question' });
    expect((await db.store.startTrace(info)).kind).toBe('updated');
    expect(await snapshot(traceId)).toEqual(finished);
    for (const [field, change] of [
      ['state', { state: 'OK' }],
      ['request_time', { requestTimeMs: T0 }],
      ['response_preview', { responsePreview: 'another answer' }],
      ['client_request_id', { clientRequestId: 'req-other' }],
    ] as const) {
      const result = await db.store.startTrace({ ...info, ...change });
      expect(result).toMatchObject({ kind: 'finished-conflict', fields: [field] });
    }
    expect(await snapshot(traceId)).toEqual(finished);
    // Spans arriving later add to the trace without moving what its info said.
    expect(await db.store.ingestSpans('0', traceId, fields(), [span('9', { parentSpanId: '0'.padStart(16, '0'), startMs: T0 - 5000, endMs: T0 + 9000 })])).toEqual({ kind: 'merged' });
    expect(await db.store.getTrace(traceId)).toMatchObject({ state: 'ERROR', requestTimeMs: T0 - 1000, executionDurationMs: 1300, spanCount: 2 });
  });

  it('stores an upload once: an exact repeat is accepted, a different span refuses the whole upload', async () => {
    const traceId = newTraceId();
    const info: TraceRecord = { traceId, experimentId: '0', clientRequestId: null, requestTimeMs: T0, executionDurationMs: 100, state: 'OK', requestPreview: null, responsePreview: null, metadata: {}, tags: {} };
    await db.store.startTrace(info);
    const spans = [span('0'), span('1', { parentSpanId: '0'.padStart(16, '0') })];
    expect(await db.store.logSpans(traceId, spans)).toEqual({ kind: 'stored' });
    const before = await snapshot(traceId);
    expect(before.trace).toMatchObject({ spanCount: 2, name: 'span-0', requestPreview: 'in-0' });
    expect(await db.store.logSpans(traceId, spans)).toEqual({ kind: 'stored' });
    expect(await snapshot(traceId)).toEqual(before);
    expect(await db.store.logSpans(traceId, [span('0', { name: 'other' }), span('7')])).toEqual({ kind: 'span-conflict', spanIds: ['0'.padStart(16, '0')] });
    expect(await snapshot(traceId)).toEqual(before);
  });
});
