import { deflateRawSync, deflateSync, gzipSync, createGzip } from 'node:zlib';
import { request as httpRequest } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TraceMetadataKey, TraceState } from '@threadline/protocol';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createApp } from '../src/http/app.js';
import { otlpProtoTypes } from '../src/ingest/otlp/otlp-proto.js';
import { describeEachDatabase, sqliteDatabase } from './support/databases.js';
import { startTraceBody } from './support/mlflow-payloads.js';
import { hexSpanId, hexTraceId, otlpRequest, rollupsAreExact, tableCounts, toProtobuf, type SpanSpec } from './support/otlp-payloads.js';
import { useTestApp, type TestApp } from './support/test-app.js';

const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';

function send(t: TestApp, payload: Buffer | string, headers: Record<string, string>): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: 'POST', url: '/v1/traces', headers, payload });
}

function decodeStatus(res: LightMyRequestResponse): { code?: number; message?: string } {
  if (res.headers['content-type']?.toString().includes('protobuf')) {
    const { Status } = otlpProtoTypes();
    return Status.toObject(Status.decode(res.rawPayload)) as { code?: number; message?: string };
  }
  return res.json();
}

/** A full collection first, so buffers an earlier test left behind do not blur a memory peak. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

let bomb: Promise<Buffer> | undefined;

/** 1 GiB of zeros gzipped (about 1 MiB), made once, streamed through zlib so no GiB is held. */
function zipBomb(): Promise<Buffer> {
  bomb ??= new Promise<Buffer>((resolve, reject) => {
    const gzip = createGzip({ level: 9 });
    const parts: Buffer[] = [];
    gzip.on('data', (c: Buffer) => parts.push(c)).on('end', () => resolve(Buffer.concat(parts))).on('error', reject);
    const zeros = Buffer.alloc(16 * 1024 * 1024);
    let left = 64;
    const write = () => {
      while (left > 0) {
        left--;
        if (!gzip.write(zeros)) return void gzip.once('drain', write);
      }
      gzip.end();
    };
    write();
  });
  return bomb;
}

describeEachDatabase('OTLP /v1/traces', (database) => {
  const t = useTestApp(database);

  describe('encodings', () => {
    it('stores protobuf spans and answers an empty protobuf response', async () => {
      const traceId = hexTraceId();
      const root = hexSpanId();
      const res = await send(t, toProtobuf(otlpRequest([
        { traceId, spanId: root, name: 'agent', attributes: { 'session.id': 's-proto', 'user.id': 'u-proto', 'input.value': 'hi' } },
        { traceId, spanId: hexSpanId(), parentSpanId: root, name: 'chat', attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 7, 'gen_ai.usage.output_tokens': 3 } },
      ])), { 'content-type': PROTOBUF });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain(PROTOBUF);
      expect(res.rawPayload.length).toBe(0);
      const trace = await t.store.getTrace(`tr-${traceId}`);
      expect(trace).toMatchObject({
        name: 'agent',
        state: TraceState.OK,
        userId: 'u-proto',
        sessionId: 's-proto',
        spanCount: 2,
        requestPreview: 'hi',
        tokenUsage: { inputTokens: 7, outputTokens: 3, totalTokens: 10 },
      });
      expect(trace!.metadata[TraceMetadataKey.INFO_FINALIZED]).toBeUndefined();
    });

    it('stores JSON spans, matching the content type loosely, and answers {}', async () => {
      const traceId = hexTraceId();
      const res = await send(t, JSON.stringify(otlpRequest([{ traceId, spanId: hexSpanId(), name: 'root' }])), { 'content-type': 'application/json; charset=utf-8' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain(JSON_TYPE);
      expect(res.json()).toEqual({});
      expect((await t.store.getTrace(`tr-${traceId}`))?.spanCount).toBe(1);
    });

    it.each([
      ['gzip', gzipSync],
      ['deflate', deflateSync],
      ['deflate', deflateRawSync],
    ] as const)('inflates Content-Encoding %s (%o)', async (encoding, compress) => {
      const traceId = hexTraceId();
      const res = await send(t, compress(toProtobuf(otlpRequest([{ traceId, spanId: hexSpanId(), name: 'root' }]))), {
        'content-type': PROTOBUF,
        'content-encoding': encoding,
      });
      expect(res.statusCode).toBe(200);
      expect((await t.store.getTrace(`tr-${traceId}`))?.spanCount).toBe(1);
    });

    it('answers an empty request with success', async () => {
      const res = await send(t, Buffer.alloc(0), { 'content-type': PROTOBUF });
      expect(res.statusCode).toBe(200);
      expect(res.rawPayload.length).toBe(0);
    });
  });

  describe('refusals store nothing', () => {
    const refused = async (payload: Buffer | string, headers: Record<string, string>, status: number) => {
      const before = await tableCounts(t.store);
      const res = await send(t, payload, headers);
      expect(res.statusCode).toBe(status);
      expect(await tableCounts(t.store)).toEqual(before);
      return res;
    };
    const valid = () => otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId(), name: 'root', attributes: { 'session.id': 's-refused' } }]);

    it('malformed protobuf: 400 with a protobuf google.rpc.Status', async () => {
      const garbage = Buffer.concat([toProtobuf(valid()), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f])]);
      const res = await refused(garbage, { 'content-type': PROTOBUF }, 400);
      expect(res.headers['content-type']).toContain(PROTOBUF);
      expect(decodeStatus(res)).toMatchObject({ code: 3, message: expect.stringContaining('protobuf') });
    });

    it('truncated gzip: 400', async () => {
      const zipped = gzipSync(toProtobuf(valid()));
      const res = await refused(zipped.subarray(0, zipped.length - 12), { 'content-type': PROTOBUF, 'content-encoding': 'gzip' }, 400);
      expect(decodeStatus(res).message).toMatch(/decompress/);
    });

    it('invalid JSON: 400 with a JSON google.rpc.Status', async () => {
      const res = await refused('{"resourceSpans": [', { 'content-type': JSON_TYPE }, 400);
      expect(res.json()).toMatchObject({ code: 3, message: expect.stringContaining('JSON') });
    });

    it('structurally wrong JSON: 400', async () => {
      await refused(JSON.stringify({ resourceSpans: { not: 'a list' } }), { 'content-type': JSON_TYPE }, 400);
    });

    it('unsupported content type: 415', async () => {
      const res = await refused(JSON.stringify(valid()), { 'content-type': 'text/plain' }, 415);
      expect(res.json().message).toMatch(/application\/x-protobuf or application\/json/);
    });

    it('unsupported content encoding: 415', async () => {
      await refused(toProtobuf(valid()), { 'content-type': PROTOBUF, 'content-encoding': 'br' }, 415);
    });

    it('unknown experiment: 400 explaining the header', async () => {
      const res = await refused(toProtobuf(valid()), { 'content-type': PROTOBUF, 'x-mlflow-experiment-id': '987654' }, 400);
      expect(decodeStatus(res).message).toMatch(/x-mlflow-experiment-id/);
    });

    it('a zip bomb: 413, never inflated past the limit', async () => {
      const bomb = await zipBomb();
      expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
      // Inflated output lives in external buffers: watching their peak while the request runs
      // tells a capped inflate (at most the 64 MiB limit) from a whole one (1 GiB).
      collectGarbage();
      const baseline = process.memoryUsage().arrayBuffers;
      let peak = baseline;
      const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().arrayBuffers); }, 2);
      try {
        const res = await refused(bomb, { 'content-type': PROTOBUF, 'content-encoding': 'gzip' }, 413);
        expect(decodeStatus(res).message).toMatch(/after decompression/);
      } finally {
        clearInterval(sampler);
      }
      expect(peak - baseline).toBeLessThan(256 * 1024 * 1024);
    }, 60_000);
  });

  describe('partial success', () => {
    it('rejects spans with bad ids or no name, keeps the rest, and says why', async () => {
      const traceId = hexTraceId();
      const good = hexSpanId();
      const before = await tableCounts(t.store);
      const res = await send(t, JSON.stringify(otlpRequest([
        { traceId, spanId: good, name: 'root' },
        { traceId: traceId.slice(0, 30), spanId: hexSpanId(), name: 'short trace id' },
        { traceId: '0'.repeat(32), spanId: hexSpanId(), name: 'zero trace id' },
        { traceId, spanId: '00'.repeat(8), name: 'zero span id' },
        { traceId, spanId: hexSpanId().slice(0, 12), name: 'short span id' },
        { traceId, spanId: hexSpanId(), name: '' },
      ])), { 'content-type': JSON_TYPE });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      expect(body.partialSuccess.rejectedSpans).toBe('5');
      expect(body.partialSuccess.errorMessage).toMatch(/traceId must be 16 bytes/);
      expect(body.partialSuccess.errorMessage).toMatch(/spanId must be 8 bytes/);
      expect(body.partialSuccess.errorMessage).toMatch(/name must not be empty/);
      const after = await tableCounts(t.store);
      expect(after.traces - before.traces).toBe(1);
      expect(after.spans - before.spans).toBe(1);
    });

    it('answers partial success in protobuf for protobuf requests', async () => {
      const res = await send(t, toProtobuf(otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId(), name: '' }])), { 'content-type': PROTOBUF });
      const { ExportTraceServiceResponse } = otlpProtoTypes();
      const decoded = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(res.rawPayload), { longs: Number });
      expect(decoded).toMatchObject({ partialSuccess: { rejectedSpans: 1, errorMessage: expect.stringMatching(/name/) } });
    });
  });

  describe('batches of one trace', () => {
    it('merge in any order, root last, with duplicates, and keep the rollups exact', async () => {
      const traceId = hexTraceId();
      const [root, agent, chat1, chat2] = [hexSpanId(), hexSpanId(), hexSpanId(), hexSpanId()];
      const base = 1_790_000_100_000;
      const span = (s: Partial<SpanSpec> & { spanId: string }): SpanSpec => ({ traceId, ...s });
      const post = async (spans: SpanSpec[]) => expect((await send(t, toProtobuf(otlpRequest(spans)), { 'content-type': PROTOBUF })).statusCode).toBe(200);
      // An older trace of the same session and user, so the rollup rows already exist.
      await post([{ traceId: hexTraceId(), spanId: hexSpanId(), name: 'earlier', startMs: base - 5000, endMs: base - 4000, attributes: { 'session.id': 'sess-merge', 'user.id': 'user-merge', 'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': 1, 'gen_ai.usage.output_tokens': 1 } }]);

      // Batch 1: a chat call with usage, no user or session yet.
      await post([span({ spanId: chat1, parentSpanId: agent, name: 'chat', startMs: base + 100, endMs: base + 200, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 } })]);
      let trace = await t.store.getTrace(`tr-${traceId}`);
      expect(trace).toMatchObject({ state: TraceState.IN_PROGRESS, sessionId: null, userId: null, spanCount: 1, name: null, tokenUsage: { totalTokens: 15 } });
      await rollupsAreExact(t.store);

      // Batch 2: the agent span carries the session, the user and an aggregate usage that must
      // not count twice; chat1 is repeated (an exporter's retry).
      await post([
        span({ spanId: agent, parentSpanId: root, name: 'invoke_agent', startMs: base + 50, endMs: base + 900, attributes: { 'gen_ai.operation.name': 'invoke_agent', 'session.id': 'sess-merge', 'user.id': 'user-merge', 'gen_ai.usage.input_tokens': 30, 'gen_ai.usage.output_tokens': 12 } }),
        span({ spanId: chat1, parentSpanId: agent, name: 'chat', startMs: base + 100, endMs: base + 200, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 } }),
        span({ spanId: chat2, parentSpanId: agent, name: 'chat', startMs: base + 300, endMs: base + 800, attributes: { 'gen_ai.operation.name': 'chat', 'gen_ai.usage.input_tokens': 20, 'gen_ai.usage.output_tokens': 7 } }),
      ]);
      trace = await t.store.getTrace(`tr-${traceId}`);
      expect(trace).toMatchObject({ state: TraceState.IN_PROGRESS, sessionId: 'sess-merge', userId: 'user-merge', spanCount: 3, tokenUsage: { inputTokens: 30, outputTokens: 12, totalTokens: 42 } });
      expect(trace!.metadata[TraceMetadataKey.SESSION]).toBe('sess-merge');
      await rollupsAreExact(t.store);

      // Batch 3: the root, last, with another session that must not overwrite the first one.
      await post([span({ spanId: root, name: 'handle', startMs: base, endMs: base + 1000, statusCode: 2, attributes: { 'session.id': 'other-session', 'input.value': 'question', 'output.value': 'answer' } })]);
      trace = await t.store.getTrace(`tr-${traceId}`);
      expect(trace).toMatchObject({
        state: TraceState.ERROR,
        name: 'handle',
        sessionId: 'sess-merge',
        spanCount: 4,
        requestTimeMs: base,
        executionDurationMs: 1000,
        requestPreview: 'question',
        responsePreview: 'answer',
        tokenUsage: { inputTokens: 30, outputTokens: 12, totalTokens: 42 },
      });
      await rollupsAreExact(t.store);
      const session = await t.store.db.selectFrom('sessions').selectAll().where('session_id', '=', 'sess-merge').executeTakeFirstOrThrow();
      expect(session).toMatchObject({ trace_count: 2, error_count: 1, user_count: 1, last_trace_id: `tr-${traceId}`, last_response_preview: 'answer' });
      expect(Number(session.total_tokens)).toBe(44);
      expect(await t.store.db.selectFrom('sessions').selectAll().where('session_id', '=', 'other-session').execute()).toEqual([]);
    });

    it('preview a chat by its last user message and its reply, in MLflow and OpenInference conventions', async () => {
      const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'first question' }, { role: 'assistant', content: 'first answer' }, { role: 'user', content: 'second question' }];
      const reply = { choices: [{ message: { role: 'assistant', content: 'second answer' } }] };
      const mlflowConvention = { traceId: hexTraceId(), spanId: hexSpanId(), name: 'chat', attributes: { 'mlflow.spanInputs': JSON.stringify({ messages }), 'mlflow.spanOutputs': JSON.stringify(reply) } };
      const openInference = {
        traceId: hexTraceId(),
        spanId: hexSpanId(),
        name: 'chat',
        attributes: { 'input.value': JSON.stringify({ messages }), 'input.mime_type': 'application/json', 'output.value': JSON.stringify(reply), 'output.mime_type': 'application/json' },
      };
      // Not a chat: the JSON, as before.
      const plain = { traceId: hexTraceId(), spanId: hexSpanId(), name: 'lookup', attributes: { 'mlflow.spanInputs': JSON.stringify({ id: 7 }), 'mlflow.spanOutputs': JSON.stringify([1, 2]) } };
      expect((await send(t, toProtobuf(otlpRequest([mlflowConvention, openInference, plain])), { 'content-type': PROTOBUF })).statusCode).toBe(200);
      for (const spec of [mlflowConvention, openInference]) {
        expect(await t.store.getTrace(`tr-${spec.traceId}`)).toMatchObject({ requestPreview: 'second question', responsePreview: 'second answer' });
      }
      expect(await t.store.getTrace(`tr-${plain.traceId}`)).toMatchObject({ requestPreview: '{"id":7}', responsePreview: '[1,2]' });
    });

    describe("a trace begun in another process (a local root's parent is remote)", () => {
      const REMOTE_PARENT = 0x301; // sampled, parent known to be remote
      const chat = (question: string, answer: string) => ({
        'mlflow.spanInputs': JSON.stringify({ messages: [{ role: 'user', content: question }] }),
        'mlflow.spanOutputs': JSON.stringify(answer),
      });
      /** The callee's part: its root (parent in the caller's process) and a child. */
      const calleePart = (traceId: string, callerSpan: string, base: number, flags?: number): SpanSpec[] => {
        const localRoot = hexSpanId();
        return [
          { traceId, spanId: hexSpanId(), parentSpanId: localRoot, name: 'retrieve', startMs: base + 20, endMs: base + 60 },
          { traceId, spanId: localRoot, parentSpanId: callerSpan, ...(flags !== undefined ? { flags } : {}), name: 'callee', startMs: base + 10, endMs: base + 80, statusCode: 1, attributes: { ...chat('question B', 'answer B'), 'user.id': 'u-remote' } },
        ];
      };
      const post = async (spans: SpanSpec[]) => expect((await send(t, toProtobuf(otlpRequest(spans)), { 'content-type': PROTOBUF })).statusCode).toBe(200);

      it('stands for the trace until the trace root arrives, which then decides state, name and previews', async () => {
        const traceId = hexTraceId();
        const [root, callerSpan] = [hexSpanId(), hexSpanId()];
        const base = 1_790_000_200_000;
        await post(calleePart(traceId, callerSpan, base, REMOTE_PARENT));
        expect(await t.store.getTrace(`tr-${traceId}`)).toMatchObject({ state: TraceState.OK, name: 'callee', requestPreview: 'question B', responsePreview: 'answer B', userId: 'u-remote', spanCount: 2 });
        await rollupsAreExact(t.store);

        await post([
          { traceId, spanId: callerSpan, parentSpanId: root, name: 'call callee', startMs: base + 5, endMs: base + 90 },
          { traceId, spanId: root, name: 'caller', startMs: base, endMs: base + 100, statusCode: 2, attributes: chat('question A', 'answer A') },
        ]);
        const trace = await t.store.getTrace(`tr-${traceId}`);
        expect(trace).toMatchObject({ state: TraceState.ERROR, name: 'caller', requestPreview: 'question A', responsePreview: 'answer A', userId: 'u-remote', spanCount: 4, requestTimeMs: base, executionDurationMs: 100 });
        expect(trace?.tags['mlflow.traceName']).toBe('caller');
        await rollupsAreExact(t.store);

        // Resent, the callee's part changes nothing the root decided.
        await post(calleePart(traceId, callerSpan, base, REMOTE_PARENT));
        expect(await t.store.getTrace(`tr-${traceId}`)).toMatchObject({ state: TraceState.ERROR, name: 'caller', requestPreview: 'question A' });
      });

      it('without the remote flag, the same spans wait for their root (IN_PROGRESS)', async () => {
        const traceId = hexTraceId();
        await post(calleePart(traceId, hexSpanId(), 1_790_000_300_000));
        expect(await t.store.getTrace(`tr-${traceId}`)).toMatchObject({ state: TraceState.IN_PROGRESS, name: null, requestPreview: null });
      });

      it("arriving after the caller's trace info, adds its spans and changes nothing the info said", async () => {
        const traceId = hexTraceId();
        const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: `tr-${traceId}`, user: 'u-remote', requestPreview: 'question A', responsePreview: 'answer A', state: 'ERROR', tags: {} }));
        expect(res.statusCode).toBe(200);
        await post(calleePart(traceId, hexSpanId(), 1_790_000_500_000, REMOTE_PARENT));
        // No name yet: the caller's own root names the trace when its spans are uploaded, not the callee's.
        expect(await t.store.getTrace(`tr-${traceId}`)).toMatchObject({ state: TraceState.ERROR, name: null, requestPreview: 'question A', responsePreview: 'answer A', spanCount: 2 });
        await t.store.logSpans(`tr-${traceId}`, [{ spanId: hexSpanId(), parentSpanId: null, name: 'caller', type: 'AGENT', status: 'ERROR', statusMessage: '', startNs: 1_790_000_500_000_000_000n, endNs: 1_790_000_500_100_000_000n, attributes: {}, events: [] }]);
        const trace = await t.store.getTrace(`tr-${traceId}`);
        expect(trace).toMatchObject({ name: 'caller', spanCount: 3 });
        expect(trace?.tags['mlflow.traceName']).toBe('caller');
        await rollupsAreExact(t.store);
      });

      it("gives way to the caller's trace info logged over the MLflow API", async () => {
        const traceId = hexTraceId();
        await post(calleePart(traceId, hexSpanId(), 1_790_000_400_000, REMOTE_PARENT));
        const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({
          traceId: `tr-${traceId}`,
          user: 'u-remote',
          requestPreview: 'question A',
          responsePreview: 'answer A',
          requestTime: new Date(1_790_000_400_000).toISOString(),
          executionDuration: '0.1s',
          tags: { 'mlflow.traceName': 'caller' },
        }));
        expect(res.statusCode).toBe(200);
        expect(await t.store.getTrace(`tr-${traceId}`)).toMatchObject({ state: TraceState.OK, name: 'caller', requestPreview: 'question A', responsePreview: 'answer A', requestTimeMs: 1_790_000_400_000, executionDurationMs: 100, spanCount: 2 });
        await rollupsAreExact(t.store);

        // An info without a name takes the callee's away: the caller's root span names the trace.
        const unnamed = hexTraceId();
        await post(calleePart(unnamed, hexSpanId(), 1_790_000_450_000, REMOTE_PARENT));
        expect((await t.post('/api/3.0/mlflow/traces', startTraceBody({ traceId: `tr-${unnamed}`, user: 'u-remote', tags: {} }))).statusCode).toBe(200);
        const trace = await t.store.getTrace(`tr-${unnamed}`);
        expect(trace?.name).toBeNull();
        expect(trace?.tags['mlflow.traceName']).toBeUndefined();
      });
    });

    it('accept a later StartTraceV3 with the same or more metadata, which then finalizes the trace', async () => {
      const traceId = hexTraceId();
      await send(t, toProtobuf(otlpRequest([{ traceId, spanId: hexSpanId(), name: 'root', attributes: { 'user.id': 'u-fin', 'session.id': 's-fin' } }])), { 'content-type': PROTOBUF });
      const res = await t.post('/api/3.0/mlflow/traces', startTraceBody({
        traceId: `tr-${traceId}`,
        metadata: { [TraceMetadataKey.USER]: 'u-fin', [TraceMetadataKey.SESSION]: 's-fin', [TraceMetadataKey.SCHEMA_VERSION]: '3', extra: 'x' },
      }));
      expect(res.statusCode).toBe(200);
      const trace = await t.store.getTrace(`tr-${traceId}`);
      expect(trace?.metadata).toMatchObject({ extra: 'x', [TraceMetadataKey.INFO_FINALIZED]: 'true', [TraceMetadataKey.USER]: 'u-fin' });
      // Finalized: a later batch adds spans but no metadata.
      await send(t, toProtobuf(otlpRequest([{ traceId, spanId: hexSpanId(), name: 'late', attributes: { 'otel.x': 1, 'ai.telemetry.metadata.k': 'v' } }])), { 'content-type': PROTOBUF });
      const later = await t.store.getTrace(`tr-${traceId}`);
      expect(later?.spanCount).toBe(2);
      expect(later?.metadata['otel.metadata.k']).toBeUndefined();
      await rollupsAreExact(t.store);
    });

    it('refuse spans of a trace that lives in another experiment, as partial success', async () => {
      const traceId = hexTraceId();
      const experimentId = await t.store.createExperiment({ name: `otlp-other-${traceId}` });
      await send(t, toProtobuf(otlpRequest([{ traceId, spanId: hexSpanId(), name: 'root' }])), { 'content-type': PROTOBUF, 'x-mlflow-experiment-id': experimentId });
      const res = await send(t, JSON.stringify(otlpRequest([{ traceId, spanId: hexSpanId(), name: 'child' }])), { 'content-type': JSON_TYPE });
      expect(res.json().partialSuccess).toMatchObject({ rejectedSpans: '1', errorMessage: expect.stringContaining(`experiment ${experimentId}`) });
      expect((await t.store.getTrace(`tr-${traceId}`))?.spanCount).toBe(1);
    });
  });
});

describe('OTLP size limit (createApp option otlp.maxBodyBytes)', () => {
  it('answers 413 past the limit, before and after decompression, and accepts a body at the limit', async () => {
    const opened = await sqliteDatabase.open();
    const app = await createApp({ store: opened.store, otlp: { maxBodyBytes: 4096 } });
    try {
      const big = JSON.stringify(otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId(), name: 'root', attributes: { 'input.value': 'x'.repeat(6000) } }]));
      const post = (payload: Buffer | string, headers: Record<string, string>) => app.inject({ method: 'POST', url: '/v1/traces', headers, payload });
      const plain = await post(big, { 'content-type': JSON_TYPE });
      expect(plain.statusCode).toBe(413);
      expect(plain.json()).toMatchObject({ code: 8, message: expect.stringContaining('4096 bytes before decompression') });
      const zipped = gzipSync(big);
      expect(zipped.length).toBeLessThan(4096);
      const inflated = await post(zipped, { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' });
      expect(inflated.statusCode).toBe(413);
      expect(inflated.json().message).toMatch(/after decompression/);
      const small = await post(gzipSync(JSON.stringify(otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId(), name: 'root' }]))), { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' });
      expect(small.statusCode).toBe(200);
      expect(await tableCounts(opened.store)).toMatchObject({ traces: 1, spans: 1 });
    } finally {
      await app.close();
      await opened.close();
    }
  });
});

describe('OTLP overload', () => {
  it('answers 503 with Retry-After beyond the concurrent request limit, and recovers', async () => {
    const opened = await sqliteDatabase.open();
    const app = await createApp({ store: opened.store, otlp: { maxConcurrentRequests: 1, retryAfterSeconds: 2 } });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as { port: number };
    const body = toProtobuf(otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId(), name: 'root' }]));
    const post = (payload: Buffer, hold = false) =>
      new Promise<{ status: number; retryAfter?: string; finish: () => void; done: Promise<number> }>((resolve, reject) => {
        let finishDone!: (status: number) => void;
        const done = new Promise<number>((r) => (finishDone = r));
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/v1/traces', headers: { 'content-type': PROTOBUF, 'content-length': payload.length } }, (res) => {
          res.resume();
          res.on('end', () => finishDone(res.statusCode!));
          if (!hold) resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, finish: () => {}, done });
        });
        req.on('error', reject);
        if (hold) {
          // Half the body: the server holds this request open, in flight.
          req.write(payload.subarray(0, 5));
          setTimeout(() => resolve({ status: 0, finish: () => req.end(payload.subarray(5)), done }), 100);
        } else req.end(payload);
      });
    try {
      const slow = await post(body, true);
      const busy = await post(body);
      expect(busy.status).toBe(503);
      expect(busy.retryAfter).toBe('2');
      slow.finish();
      expect(await slow.done).toBe(200);
      expect((await post(body)).status).toBe(200);
    } finally {
      await app.close();
      await opened.close();
    }
  });
});
