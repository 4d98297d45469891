/**
 * The real OpenTelemetry JS exporters (http/protobuf and http/json) sending to a real listening
 * server, with the attributes of OpenInference, the GenAI semantic conventions and the Vercel AI
 * SDK; the traces are then found by the seed's user and session filter.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenInferenceSpanKind, SemanticConventions } from '@arizeai/openinference-semantic-conventions';
import { context, trace, type Span, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter as OTLPHttpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { SpanType, TraceMetadataKey, TraceState } from '@threadline/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../src/server.js';
import { traceKeysOf } from '../src/store/trace-rows.js';
import { createPostgresSchema, describeEachDatabase } from './support/databases.js';
import { rollupsAreExact } from './support/otlp-payloads.js';

const SEED_FILTER = "metadata.`mlflow.trace.user` = 'user-123' AND metadata.`mlflow.trace.session` = 'session-abc-456'";

describeEachDatabase('real OTel exporters to POST /v1/traces', (database) => {
  let server: RunningServer;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    let uri: string;
    if (database.name === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'threadline-otlp-'));
      uri = `sqlite:///${join(dir, 'otlp.db')}`;
      cleanup = async () => rmSync(dir, { recursive: true, force: true });
    } else {
      const schema = await createPostgresSchema();
      uri = schema.uri;
      cleanup = () => schema.drop();
    }
    server = await startServer({ backendStoreUri: uri, port: 0 });
  });
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
  });

  /** A provider exporting to the server into a fresh experiment, as an application would set one up. */
  async function setUp(kind: 'proto' | 'json', processor: 'batch' | 'simple', resource: Record<string, string> = {}) {
    const experimentId = await server.store.createExperiment({ name: `otlp-${kind}-${processor}-${Math.random()}` });
    const options = { url: `${server.url}/v1/traces`, headers: { 'x-mlflow-experiment-id': experimentId } };
    const exporter: SpanExporter = kind === 'proto' ? new OTLPProtoExporter(options) : new OTLPHttpJsonExporter(options);
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'otlp-test', ...resource }),
      spanProcessors: [processor === 'batch' ? new BatchSpanProcessor(exporter) : new SimpleSpanProcessor(exporter)],
    });
    return { experimentId, tracer: provider.getTracer('otlp-test'), provider };
  }

  const child = (tracer: Tracer, parent: Span, name: string, attributes: Record<string, string | number>) =>
    tracer.startSpan(name, { attributes }, trace.setSpan(context.active(), parent));

  async function search(experimentId: string): Promise<{ trace_id: string; trace_metadata: Record<string, string> }[]> {
    const res = await fetch(`${server.url}/api/3.0/mlflow/traces/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ locations: [{ type: 'MLFLOW_EXPERIMENT', mlflow_experiment: { experiment_id: experimentId } }], filter: SEED_FILTER }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { traces?: { trace_id: string; trace_metadata: Record<string, string> }[] }).traces ?? [];
  }

  async function spanTypes(traceId: string): Promise<Record<string, string | null>> {
    const rows = await server.store.db.selectFrom('spans').select(['name', 'type']).where('trace_key', '=', traceKeysOf(server.store.db, traceId)).execute();
    return Object.fromEntries(rows.map((r) => [r.name, r.type]));
  }

  it('http/protobuf, batch processor, OpenInference attributes: found by the seed filter', async () => {
    const { experimentId, tracer, provider } = await setUp('proto', 'batch');
    const root = tracer.startSpan('chat-turn', {
      attributes: {
        [SemanticConventions.OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.CHAIN,
        [SemanticConventions.SESSION_ID]: 'session-abc-456',
        [SemanticConventions.USER_ID]: 'user-123',
        [SemanticConventions.INPUT_VALUE]: 'What is MLflow?',
        [SemanticConventions.OUTPUT_VALUE]: 'An ML platform.',
      },
    });
    child(tracer, root, 'ChatOpenAI', {
      [SemanticConventions.OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.LLM,
      [SemanticConventions.LLM_MODEL_NAME]: 'gpt-4o-mini',
      [SemanticConventions.LLM_PROVIDER]: 'openai',
      [SemanticConventions.LLM_TOKEN_COUNT_PROMPT]: 12,
      [SemanticConventions.LLM_TOKEN_COUNT_COMPLETION]: 30,
      [SemanticConventions.LLM_TOKEN_COUNT_TOTAL]: 42,
      'llm.input_messages.0.message.role': 'user',
      'llm.input_messages.0.message.content': 'What is MLflow?',
    }).end();
    child(tracer, root, 'search_docs', { [SemanticConventions.OPENINFERENCE_SPAN_KIND]: OpenInferenceSpanKind.TOOL }).end();
    root.end();
    await provider.forceFlush();
    await provider.shutdown();

    const found = await search(experimentId);
    expect(found).toHaveLength(1);
    const traceId = `tr-${root.spanContext().traceId}`;
    expect(found[0]!.trace_id).toBe(traceId);
    const stored = await server.store.getTrace(traceId);
    expect(stored).toMatchObject({
      userId: 'user-123',
      sessionId: 'session-abc-456',
      state: TraceState.OK,
      name: 'chat-turn',
      spanCount: 3,
      requestPreview: 'What is MLflow?',
      responsePreview: 'An ML platform.',
      tokenUsage: { inputTokens: 12, outputTokens: 30, totalTokens: 42 },
    });
    expect(await spanTypes(traceId)).toEqual({ 'chat-turn': SpanType.CHAIN, ChatOpenAI: SpanType.LLM, search_docs: SpanType.TOOL });
    const spans = await server.store.getSpans(traceId);
    const llm = JSON.parse(spans.find((s) => s.contentJson.includes('"ChatOpenAI"'))!.contentJson) as { attributes: Record<string, string> };
    expect(JSON.parse(llm.attributes['mlflow.llm.model']!)).toBe('gpt-4o-mini');
    expect(JSON.parse(llm.attributes['mlflow.llm.provider']!)).toBe('openai');
    expect(JSON.parse(llm.attributes['mlflow.spanInputs']!)).toEqual([{ message: { role: 'user', content: 'What is MLflow?' } }]);
    await rollupsAreExact(server.store, Number(experimentId));
  });

  it('http/json, simple processor (root exported last), GenAI semconv v7 agent: usage counted once', async () => {
    const { experimentId, tracer, provider } = await setUp('json', 'simple', { 'user.id': 'user-123' });
    const agent = tracer.startSpan('invoke_agent weather', {
      attributes: { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.conversation.id': 'session-abc-456', 'gen_ai.usage.input_tokens': 300, 'gen_ai.usage.output_tokens': 50 },
    });
    for (const [input, output] of [[100, 20], [200, 30]] as const) {
      child(tracer, agent, 'chat gpt-4o', {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'gpt-4o',
        'gen_ai.response.model': 'gpt-4o-2024-08-06',
        'gen_ai.usage.input_tokens': input,
        'gen_ai.usage.output_tokens': output,
        'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: 'weather?' }] }]),
      }).end();
    }
    child(tracer, agent, 'execute_tool get_weather', { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.call.arguments': '{"city":"Paris"}' }).end();
    agent.end();
    await provider.forceFlush();
    await provider.shutdown();

    const found = await search(experimentId);
    expect(found).toHaveLength(1);
    const traceId = found[0]!.trace_id;
    expect(found[0]!.trace_metadata).toMatchObject({ [TraceMetadataKey.USER]: 'user-123', [TraceMetadataKey.SESSION]: 'session-abc-456' });
    expect(await server.store.getTrace(traceId)).toMatchObject({ spanCount: 4, state: TraceState.OK, tokenUsage: { inputTokens: 300, outputTokens: 50, totalTokens: 350 } });
    expect(await spanTypes(traceId)).toEqual({ 'invoke_agent weather': SpanType.AGENT, 'chat gpt-4o': SpanType.CHAT_MODEL, 'execute_tool get_weather': SpanType.TOOL });
    await rollupsAreExact(server.store, Number(experimentId));
    const session = await server.store.db.selectFrom('sessions').selectAll().where('experiment_id', '=', Number(experimentId)).executeTakeFirstOrThrow();
    expect(session).toMatchObject({ session_id: 'session-abc-456', trace_count: 1, user_count: 1 });
    expect(Number(session.total_tokens)).toBe(350);
  });

  it('http/protobuf, Vercel AI SDK telemetry metadata, spans in several batches: one trace, exact rollups', async () => {
    const { experimentId, tracer, provider } = await setUp('proto', 'simple');
    const metadata = { 'ai.telemetry.metadata.userId': 'user-123', 'ai.telemetry.metadata.sessionId': 'session-abc-456', 'ai.telemetry.metadata.plan': 'pro' };
    for (let turn = 0; turn < 2; turn++) {
      const root = tracer.startSpan('ai.generateText', {
        attributes: { ...metadata, 'ai.operationId': 'ai.generateText', 'ai.prompt': '{"prompt":"hi"}', 'ai.usage.inputTokens': 11, 'ai.usage.outputTokens': 4 },
      });
      child(tracer, root, 'ai.generateText.doGenerate', {
        ...metadata,
        'ai.operationId': 'ai.generateText.doGenerate',
        'ai.model.provider': 'openai.chat',
        'ai.model.id': 'gpt-4o-mini',
        'gen_ai.system': 'openai.chat',
        'gen_ai.usage.input_tokens': 11,
        'gen_ai.usage.output_tokens': 4,
        'ai.usage.inputTokens': 11,
        'ai.usage.outputTokens': 4,
        'ai.response.text': 'hello',
      }).end();
      root.end();
      await provider.forceFlush();
    }
    await provider.shutdown();

    const found = await search(experimentId);
    expect(found).toHaveLength(2);
    for (const { trace_id: traceId } of found) {
      expect(await server.store.getTrace(traceId)).toMatchObject({ spanCount: 2, name: 'ai.generateText', tokenUsage: { inputTokens: 11, outputTokens: 4, totalTokens: 15 } });
      expect(await spanTypes(traceId)).toEqual({ 'ai.generateText': SpanType.CHAIN, 'ai.generateText.doGenerate': SpanType.CHAT_MODEL });
      expect((await server.store.getTrace(traceId))!.metadata['otel.metadata.plan']).toBe('pro');
    }
    await rollupsAreExact(server.store, Number(experimentId));
    const user = await server.store.db.selectFrom('users').selectAll().where('experiment_id', '=', Number(experimentId)).executeTakeFirstOrThrow();
    expect(user).toMatchObject({ user_id: 'user-123', trace_count: 2, session_count: 1 });
    expect(Number(user.total_tokens)).toBe(30);
  });
});
