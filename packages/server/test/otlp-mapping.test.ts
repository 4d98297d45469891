import { describe, expect, it } from 'vitest';
import { decodeOtlpJson, decodeOtlpProtobuf } from '../src/ingest/otlp/otlp-decode.js';
import {
  cleanIdValue,
  extraMetadataOf,
  firstIdValue,
  inputsOf,
  modelOf,
  outputsOf,
  providerOf,
  SESSION_KEYS,
  spanTypeOf,
  tokenUsageOf,
  traceTagsOf,
  USER_KEYS,
} from '../src/ingest/otlp/otlp-mapping.js';
import { normaliseOtlpSpans } from '../src/ingest/otlp/otlp-normalise.js';
import { hexSpanId, hexTraceId, otlpRequest, toProtobuf } from './support/otlp-payloads.js';

describe('§11.A user and session', () => {
  it.each(USER_KEYS.map((key, i) => [key, i]))('user from %s, over every later alias', (key, i) => {
    const attributes = Object.fromEntries(USER_KEYS.slice(i).map((k, j) => [k, j === 0 ? 'winner' : `loser-${j}`]));
    expect(firstIdValue(USER_KEYS, attributes, {})).toBe('winner');
  });

  it.each(SESSION_KEYS.map((key, i) => [key, i]))('session from %s, over every later alias', (key, i) => {
    const attributes = Object.fromEntries(SESSION_KEYS.slice(i).map((k, j) => [k, j === 0 ? 'winner' : `loser-${j}`]));
    expect(firstIdValue(SESSION_KEYS, attributes, {})).toBe('winner');
  });

  it('reads the resource when the span has none, skips empty values, cleans and cuts', () => {
    expect(firstIdValue(USER_KEYS, { 'user.id': '  ' }, { 'enduser.id': 'from-resource' })).toBe('from-resource');
    expect(cleanIdValue('"\\"quoted\\""')).toBe('"quoted"');
    expect(cleanIdValue('"u-1"')).toBe('u-1');
    expect(cleanIdValue(42)).toBe('42');
    expect(cleanIdValue('x'.repeat(300))).toHaveLength(250);
    expect(cleanIdValue(true)).toBeNull();
  });

  it('takes trace fields from the root first, then the first span seen, across the batch', () => {
    const traceId = hexTraceId();
    const root = hexSpanId();
    const spans = decodeOtlpJson(JSON.stringify(otlpRequest([
      { traceId, spanId: hexSpanId(), parentSpanId: root, name: 'child-1', attributes: { 'session.id': 'child-session', 'user.id': 'child-user' } },
      { traceId, spanId: hexSpanId(), parentSpanId: root, name: 'child-2', attributes: { 'session.id': 'later-session', 'ai.telemetry.metadata.tags': '["a","b"]' } },
      { traceId, spanId: root, name: 'root', attributes: { 'user.id': 'root-user', 'mlflow.traceTag.env': 'prod', 'langfuse.trace.name': 'named' } },
    ])));
    const [batch] = normaliseOtlpSpans(spans).traces;
    expect(batch!.fields.metadata).toMatchObject({ 'mlflow.trace.user': 'root-user', 'mlflow.trace.session': 'child-session' });
    expect(batch!.fields.tags).toEqual({ env: 'prod', a: '', b: '' });
    expect(batch!.fields.name).toBe('named');
  });

  it('tags and extra metadata', () => {
    expect(traceTagsOf({ 'tag.tags': ['x', 'y'], 'langfuse.trace.tags': 'p, q' })).toEqual({ x: '', y: '', p: '', q: '' });
    expect(extraMetadataOf({
      'ai.telemetry.metadata.plan': 'pro',
      'ai.telemetry.metadata.userId': 'u',
      metadata: '{"tenant":"acme"}',
      'langfuse.trace.metadata.region': 'eu',
      'ai.settings.context.tier': 3,
    }, { 'deployment.environment.name': 'staging' })).toEqual({
      'otel.metadata.plan': 'pro',
      'otel.metadata.tenant': 'acme',
      'otel.metadata.region': 'eu',
      'otel.metadata.tier': '3',
      'otel.environment': 'staging',
    });
  });
});

describe('§11.B span type', () => {
  it.each([
    [{ 'mlflow.spanType': 'RETRIEVER', 'openinference.span.kind': 'LLM' }, 'RETRIEVER'],
    [{ 'mlflow.spanType': '"TOOL"' }, 'TOOL'],
    ...['LLM', 'CHAIN', 'TOOL', 'AGENT', 'RETRIEVER', 'EMBEDDING', 'RERANKER', 'GUARDRAIL', 'EVALUATOR', 'UNKNOWN'].map((k) => [{ 'openinference.span.kind': k }, k] as const),
    [{ 'openinference.span.kind': 'PROMPT' }, 'PARSER'],
    [{ 'gen_ai.operation.name': 'chat' }, 'CHAT_MODEL'],
    ...['text_completion', 'generate_content', 'generate', 'completion', 'response'].map((op) => [{ 'gen_ai.operation.name': op }, 'LLM'] as const),
    [{ 'gen_ai.operation.name': 'embeddings' }, 'EMBEDDING'],
    [{ 'gen_ai.operation.name': 'execute_tool' }, 'TOOL'],
    [{ 'gen_ai.operation.name': 'invoke_agent' }, 'AGENT'],
    [{ 'gen_ai.operation.name': 'create_agent' }, 'AGENT'],
    [{ 'gen_ai.operation.name': 'agent_step' }, 'CHAIN'],
    [{ 'gen_ai.operation.name': 'invoke_workflow' }, 'CHAIN'],
    [{ 'gen_ai.operation.name': 'retrieval' }, 'RETRIEVER'],
    [{ 'gen_ai.operation.name': 'rerank' }, 'RERANKER'],
    [{ 'traceloop.span.kind': 'workflow' }, 'WORKFLOW'],
    [{ 'traceloop.span.kind': 'task' }, 'TASK'],
    [{ 'traceloop.span.kind': 'llm' }, 'LLM'],
    [{ 'ai.operationId': 'ai.streamText.doStream' }, 'CHAT_MODEL'],
    [{ 'ai.operationId': 'ai.generateObject' }, 'CHAIN'],
    [{ 'ai.operationId': 'ai.toolCall' }, 'TOOL'],
    [{ 'ai.operationId': 'ai.embedMany' }, 'EMBEDDING'],
    [{ 'langfuse.observation.type': 'generation' }, 'LLM'],
    [{ 'langfuse.observation.type': 'event' }, 'UNKNOWN'],
    [{ 'gen_ai.request.model': 'gpt-4o' }, 'LLM'],
    [{}, 'UNKNOWN'],
  ] as [Record<string, unknown>, string][])('%o → %s', (attributes, type) => {
    expect(spanTypeOf(attributes)).toBe(type);
  });
});

describe('§11.C token usage', () => {
  it('reads every alias, in precedence, and computes the total', () => {
    expect(tokenUsageOf({ 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.prompt_tokens': 99, 'gen_ai.usage.output_tokens': 5 }, 'LLM')).toEqual({ input_tokens: 10, output_tokens: 5, total_tokens: 15 });
    expect(tokenUsageOf({ 'llm.token_count.prompt': 3, 'llm.token_count.completion': 4, 'llm.token_count.total': 8, 'llm.token_count.prompt_details.cache_read': 1 }, 'LLM')).toEqual({
      input_tokens: 3,
      output_tokens: 4,
      total_tokens: 8,
      cache_read_input_tokens: 1,
    });
    expect(tokenUsageOf({ 'gen_ai.usage.completion_tokens': 2, 'gen_ai.usage.cache_creation.input_tokens': 1, 'gen_ai.usage.reasoning.output_tokens': 1 }, 'CHAT_MODEL')).toEqual({
      input_tokens: 0,
      output_tokens: 2,
      total_tokens: 2,
      cache_creation_input_tokens: 1,
      reasoning_tokens: 1,
    });
  });

  it('leaves out aggregates: non-model spans, agents, AI SDK roots', () => {
    expect(tokenUsageOf({ 'gen_ai.usage.input_tokens': 10 }, 'AGENT')).toBeNull();
    expect(tokenUsageOf({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.usage.input_tokens': 10 }, 'LLM')).toBeNull();
    expect(tokenUsageOf({ 'ai.operationId': 'ai.generateText', 'ai.usage.inputTokens': 10 }, 'LLM')).toBeNull();
    expect(tokenUsageOf({ 'ai.operationId': 'ai.generateText.doGenerate', 'ai.usage.promptTokens': 10, 'ai.usage.completionTokens': 2 }, 'CHAT_MODEL')).toMatchObject({ total_tokens: 12 });
  });
});

describe('§11.D model, provider, inputs and outputs', () => {
  it('model and provider in precedence', () => {
    expect(modelOf({ 'gen_ai.request.model': 'req', 'gen_ai.response.model': 'resp' })).toBe('resp');
    expect(modelOf({ 'ai.model.id': 'gpt', 'embedding.model_name': 'e' })).toBe('gpt');
    expect(providerOf({ 'gen_ai.system': 'old', 'gen_ai.provider.name': 'new' })).toBe('new');
    expect(providerOf({ 'ai.model.provider': 'openai.chat' })).toBe('openai');
  });

  it('inputs and outputs, JSON parsed and flattened messages rebuilt', () => {
    expect(inputsOf({ 'gen_ai.input.messages': '[{"role":"user"}]', 'input.value': 'no' }, [])).toEqual([{ role: 'user' }]);
    expect(inputsOf({ 'input.value': '{"q":1}', 'input.mime_type': 'application/json' }, [])).toEqual({ q: 1 });
    expect(inputsOf({ 'input.value': 'plain' }, [])).toBe('plain');
    expect(inputsOf({ 'gen_ai.prompt.0.role': 'user', 'gen_ai.prompt.0.content': 'hi', 'gen_ai.prompt.1.role': 'assistant' }, [])).toEqual([{ role: 'user', content: 'hi' }, { role: 'assistant' }]);
    expect(inputsOf({}, [{ name: 'gen_ai.client.inference.operation.details', attributes: { 'gen_ai.input.messages': '[1]' } }])).toEqual([1]);
    expect(outputsOf({ 'ai.response.text': '42' }, [])).toBe('42');
    expect(outputsOf({ 'llm.output_messages.0.message.content': 'ok' }, [])).toEqual([{ message: { content: 'ok' } }]);
    expect(outputsOf({ 'mlflow.spanOutputs': '{"a":1}' }, [])).toEqual({ a: 1 });
  });
});

describe('decoding', () => {
  it('reads protobuf and JSON of the same request into the same spans', () => {
    const request = otlpRequest([{ traceId: hexTraceId(), spanId: hexSpanId(), name: 'root', attributes: { n: 0, b: false, f: 1.5, list: ['a'], s: 's' } }]);
    const fromJson = decodeOtlpJson(JSON.stringify(request));
    const fromProto = decodeOtlpProtobuf(toProtobuf(request));
    expect(fromProto).toEqual(fromJson);
    expect(fromProto[0]!.attributes).toEqual({ n: 0, b: false, f: 1.5, list: ['a'], s: 's' });
  });

  it('is lenient with JSON: uppercase hex, base64 ids, enum names, int64 as Long or number, NaN', () => {
    // A bare integer above 2^53, as some exporters write it: it must stay exact.
    const [span] = decodeOtlpJson(JSON.stringify({
      resourceSpans: [{ scopeSpans: [{ spans: [{
        traceId: '5B8EFFF798038103D269B633813FC60C',
        spanId: Buffer.from('0123456789abcdef', 'hex').toString('base64'),
        name: 'x',
        kind: 'SPAN_KIND_CLIENT',
        startTimeUnixNano: 'NANOS',
        status: { code: 'STATUS_CODE_ERROR' },
        attributes: [{ key: 'l', value: { intValue: { low: 5, high: 0 } } }, { key: 'd', value: { doubleValue: 'NaN' } }, { key: 'e', value: {} }],
        unknownField: true,
      }] }] }],
    }).replace('"NANOS"', '1795463444073591362'));
    expect(span).toMatchObject({ traceId: '5b8efff798038103d269b633813fc60c', spanId: '0123456789abcdef', kind: 3, statusCode: 2, attributes: { l: 5, d: 'NaN', e: null } });
    expect(span!.startNs).toBe(1795463444073591362n);
  });
});
