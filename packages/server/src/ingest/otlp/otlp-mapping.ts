import { SpanAttributeKey, SpanType, TraceMetadataKey } from '@threadline/protocol';
import { jsonValue } from '../../json.js';

/**
 * The canonical mapping of shared/reference/otel-mapping.md §11: what the attributes of real
 * LLM instrumentations (OTel GenAI, OpenInference, OpenLLMetry/Traceloop, Langfuse, Vercel AI SDK)
 * mean in MLflow's model. Within a row the first key with a non-empty value wins.
 */

/** Longest user or session id kept (MLflow's metadata guarantee); longer values are cut. */
export const MAX_TRACE_ID_VALUE_CHARS = 250;

/** §11.A: where the application's end user is found, in precedence order. */
export const USER_KEYS = [
  TraceMetadataKey.USER,
  'langfuse.user.id',
  'user.id',
  'enduser.id',
  'ai.telemetry.metadata.userId',
  'ai.settings.context.userId',
  'traceloop.association.properties.user_id',
  'langfuse.trace.metadata.langfuse_user_id',
  'langfuse.observation.metadata.langfuse_user_id',
] as const;

/** §11.A: the session (conversation). `session.id` beats `gen_ai.conversation.id`. */
export const SESSION_KEYS = [
  TraceMetadataKey.SESSION,
  'langfuse.session.id',
  'session.id',
  'gen_ai.conversation.id',
  'ai.telemetry.metadata.sessionId',
  'ai.settings.context.sessionId',
  'traceloop.association.properties.session_id',
  'langfuse.trace.metadata.langfuse_session_id',
  'langfuse.observation.metadata.langfuse_session_id',
] as const;

const TAG_LIST_KEYS = ['tag.tags', 'langfuse.trace.tags', 'ai.telemetry.metadata.tags'] as const;
const TRACE_TAG_PREFIX = 'mlflow.traceTag.';
const ENVIRONMENT_KEYS = ['deployment.environment.name', 'deployment.environment', 'langfuse.environment'] as const;

/** Namespace of the extra trace metadata taken from instrumentation metadata attributes. */
export const OTEL_METADATA_PREFIX = 'otel.metadata.';
export const OTEL_ENVIRONMENT_KEY = 'otel.environment';

/**
 * A user or session id as stored: strings trimmed, JSON-quoted strings (`"\"u-1\""`, as MLflow's
 * exporters encode every value) unquoted, numbers as decimals, cut to 250 characters.
 * Null when there is nothing usable.
 */
export function cleanIdValue(value: unknown): string | null {
  let text: string;
  if (typeof value === 'string') text = unquote(value).trim();
  else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
  else return null;
  return text === '' ? null : text.slice(0, MAX_TRACE_ID_VALUE_CHARS);
}

/** The first non-empty value of `keys` in the span's attributes, then in its resource's. */
export function firstIdValue(keys: readonly string[], attributes: Record<string, unknown>, resource: Record<string, unknown>): string | null {
  for (const source of [attributes, resource]) {
    for (const key of keys) {
      const value = cleanIdValue(source[key]);
      if (value !== null) return value;
    }
  }
  return null;
}

/**
 * Trace tags a span carries: `mlflow.traceTag.<k>` as tag `<k>`, and the tag lists of
 * OpenInference (`tag.tags`), Langfuse and the AI SDK as tags with an empty value.
 */
export function traceTagsOf(attributes: Record<string, unknown>): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const key of TAG_LIST_KEYS) {
    for (const label of tagList(attributes[key])) tags[label.slice(0, 250)] = '';
  }
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith(TRACE_TAG_PREFIX) && key.length > TRACE_TAG_PREFIX.length) {
      tags[key.slice(TRACE_TAG_PREFIX.length).slice(0, 250)] = textOf(value).slice(0, 4096);
    }
  }
  return tags;
}

/** A tag list: an array, a JSON-array string, a comma-separated string, or one tag. */
function tagList(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => (typeof v === 'string' && v.trim() !== '' ? [v.trim()] : []));
  if (typeof value !== 'string' || value.trim() === '') return [];
  const parsed = parseJson(value.trim());
  if (Array.isArray(parsed)) return tagList(parsed);
  return value.split(',').flatMap((t) => (t.trim() === '' ? [] : [t.trim()]));
}

/**
 * Extra trace metadata (§11.A): Langfuse trace metadata, AI SDK telemetry metadata and runtime
 * context (less user, session and tags), OpenInference `metadata` (JSON) and `metadata.<k>`,
 * under `otel.metadata.<k>`; the deployment environment under `otel.environment`. Values are
 * cut to 250 characters, MLflow's metadata guarantee.
 */
export function extraMetadataOf(attributes: Record<string, unknown>, resource: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (key: string, value: unknown) => {
    const name = OTEL_METADATA_PREFIX + key;
    if (key === '' || name.length > 250 || name in out || value === null || value === undefined) return;
    out[name] = textOf(value).slice(0, MAX_TRACE_ID_VALUE_CHARS);
  };
  for (const jsonKey of ['langfuse.trace.metadata', 'metadata']) {
    const parsed = typeof attributes[jsonKey] === 'string' ? parseJson(attributes[jsonKey] as string) : attributes[jsonKey];
    if (isRecord(parsed)) for (const [k, v] of Object.entries(parsed)) put(k, v);
  }
  for (const [key, value] of Object.entries(attributes)) {
    for (const prefix of ['langfuse.trace.metadata.', 'ai.telemetry.metadata.', 'ai.settings.context.', 'metadata.']) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length);
      if (!['userId', 'sessionId', 'tags', 'langfuse_user_id', 'langfuse_session_id'].includes(name)) put(name, value);
    }
  }
  for (const key of ENVIRONMENT_KEYS) {
    const value = cleanIdValue(attributes[key]) ?? cleanIdValue(resource[key]);
    if (value !== null) {
      out[OTEL_ENVIRONMENT_KEY] = value;
      break;
    }
  }
  return out;
}

// ---- §11.B span type ----------------------------------------------------------------------

const OPENINFERENCE_KINDS: Record<string, string> = {
  LLM: SpanType.LLM,
  CHAIN: SpanType.CHAIN,
  TOOL: SpanType.TOOL,
  AGENT: SpanType.AGENT,
  RETRIEVER: SpanType.RETRIEVER,
  EMBEDDING: SpanType.EMBEDDING,
  RERANKER: SpanType.RERANKER,
  GUARDRAIL: 'GUARDRAIL',
  EVALUATOR: 'EVALUATOR',
  // MLflow has no PROMPT type; a prompt template rendering is closest to a parser.
  PROMPT: SpanType.PARSER,
  UNKNOWN: SpanType.UNKNOWN,
};

const GENAI_OPERATIONS: Record<string, string> = {
  chat: SpanType.CHAT_MODEL,
  text_completion: SpanType.LLM,
  generate_content: SpanType.LLM,
  generate: SpanType.LLM,
  completion: SpanType.LLM,
  response: SpanType.LLM,
  embeddings: SpanType.EMBEDDING,
  execute_tool: SpanType.TOOL,
  invoke_agent: SpanType.AGENT,
  create_agent: SpanType.AGENT,
  agent_step: SpanType.CHAIN,
  invoke_workflow: SpanType.CHAIN,
  retrieval: SpanType.RETRIEVER,
  rerank: SpanType.RERANKER,
};

const TRACELOOP_KINDS: Record<string, string> = {
  workflow: SpanType.WORKFLOW,
  task: SpanType.TASK,
  agent: SpanType.AGENT,
  tool: SpanType.TOOL,
  llm: SpanType.LLM,
  unknown: SpanType.UNKNOWN,
};

const LANGFUSE_TYPES: Record<string, string> = {
  generation: SpanType.LLM,
  agent: SpanType.AGENT,
  tool: SpanType.TOOL,
  chain: SpanType.CHAIN,
  retriever: SpanType.RETRIEVER,
  embedding: SpanType.EMBEDDING,
  guardrail: 'GUARDRAIL',
  evaluator: 'EVALUATOR',
  span: SpanType.UNKNOWN,
  event: SpanType.UNKNOWN,
};

/** AI SDK (≤ v6, and v7's legacy integration) operation ids: roots are chains of provider calls. */
function aiSdkSpanType(operationId: string): string | null {
  if (/\.(doGenerate|doStream)$/.test(operationId)) return SpanType.CHAT_MODEL;
  if (/^ai\.embed(Many)?(\.doEmbed)?$/.test(operationId)) return SpanType.EMBEDDING;
  if (operationId === 'ai.toolCall') return SpanType.TOOL;
  if (/^ai\.(generateText|streamText|generateObject|streamObject)$/.test(operationId)) return SpanType.CHAIN;
  return null;
}

/**
 * §11.B: the span's MLflow type. An explicit `mlflow.spanType` wins; then OpenInference, GenAI,
 * Traceloop, AI SDK and Langfuse conventions; then any model attribute makes an LLM span.
 *
 * @example
 * spanTypeOf({ 'gen_ai.operation.name': 'chat' }) // 'CHAT_MODEL'
 */
export function spanTypeOf(attributes: Record<string, unknown>): string {
  const explicit = cleanIdValue(attributes[SpanAttributeKey.SPAN_TYPE]);
  if (explicit !== null) return explicit;
  const lookups: [string, Record<string, string>, (v: string) => string][] = [
    ['openinference.span.kind', OPENINFERENCE_KINDS, (v) => v.toUpperCase()],
    ['gen_ai.operation.name', GENAI_OPERATIONS, (v) => v],
    ['traceloop.span.kind', TRACELOOP_KINDS, (v) => v.toLowerCase()],
  ];
  for (const [key, table, normal] of lookups) {
    const value = attributes[key];
    if (typeof value === 'string' && table[normal(value)] !== undefined) return table[normal(value)]!;
  }
  const operationId = attributes['ai.operationId'];
  if (typeof operationId === 'string') {
    const type = aiSdkSpanType(operationId);
    if (type !== null) return type;
  }
  const langfuseType = attributes['langfuse.observation.type'];
  if (typeof langfuseType === 'string' && LANGFUSE_TYPES[langfuseType.toLowerCase()] !== undefined) return LANGFUSE_TYPES[langfuseType.toLowerCase()]!;
  for (const key of ['gen_ai.request.model', 'gen_ai.response.model', 'llm.model_name']) {
    if (nonEmpty(attributes[key])) return SpanType.LLM;
  }
  return SpanType.UNKNOWN;
}

// ---- §11.C token usage --------------------------------------------------------------------

const INPUT_TOKEN_KEYS = ['gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens', 'llm.token_count.prompt', 'ai.usage.inputTokens', 'ai.usage.promptTokens', 'llm.usage.prompt_tokens'];
const OUTPUT_TOKEN_KEYS = ['gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens', 'llm.token_count.completion', 'ai.usage.outputTokens', 'ai.usage.completionTokens'];
const TOTAL_TOKEN_KEYS = ['llm.token_count.total', 'llm.usage.total_tokens', 'ai.usage.totalTokens'];
const CACHE_READ_KEYS = ['gen_ai.usage.cache_read.input_tokens', 'llm.token_count.prompt_details.cache_read', 'ai.usage.inputTokenDetails.cacheReadTokens', 'ai.usage.cachedInputTokens'];
const CACHE_WRITE_KEYS = ['gen_ai.usage.cache_creation.input_tokens', 'llm.token_count.prompt_details.cache_write', 'ai.usage.inputTokenDetails.cacheWriteTokens'];
const REASONING_KEYS = ['gen_ai.usage.reasoning.output_tokens', 'llm.token_count.completion_details.reasoning', 'ai.usage.reasoningTokens'];

/** Span types whose usage is the model's own; other spans carry aggregates of their children. */
const USAGE_SPAN_TYPES = new Set<string>([SpanType.LLM, SpanType.CHAT_MODEL, SpanType.EMBEDDING]);
/** GenAI operations that report the sum of their children's usage (AI SDK v7 agents). */
const AGGREGATE_OPERATIONS = new Set(['invoke_agent', 'agent_step', 'invoke_workflow']);

export interface TokenUsageJson {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
  reasoning_tokens?: number;
}

/**
 * §11.C: the span's own token usage as MLflow's `mlflow.chat.tokenUsage`, or null. Only model
 * spans (LLM, CHAT_MODEL, EMBEDDING) count, never an agent's or an AI SDK root's aggregate, and
 * `ai.usage.*` only on the AI SDK's provider calls (`*.doGenerate`, `*.doStream`, `*.doEmbed`):
 * that is what keeps a trace's sum from counting one call twice. Input includes cached tokens,
 * as in OTel (not Langfuse's cache-exclusive input).
 */
export function tokenUsageOf(attributes: Record<string, unknown>, spanType: string): TokenUsageJson | null {
  if (!USAGE_SPAN_TYPES.has(spanType)) return null;
  const operation = attributes['gen_ai.operation.name'];
  if (typeof operation === 'string' && AGGREGATE_OPERATIONS.has(operation)) return null;
  const operationId = attributes['ai.operationId'];
  const aiSdkCall = typeof operationId === 'string' && /\.(doGenerate|doStream|doEmbed)$/.test(operationId);
  const keysOf = (keys: string[]) => (aiSdkCall ? keys : keys.filter((k) => !k.startsWith('ai.usage.')));
  const input = firstCount(attributes, keysOf(INPUT_TOKEN_KEYS));
  const output = firstCount(attributes, keysOf(OUTPUT_TOKEN_KEYS));
  const total = firstCount(attributes, keysOf(TOTAL_TOKEN_KEYS));
  if (input === null && output === null && total === null) return null;
  const usage: TokenUsageJson = {
    input_tokens: input ?? 0,
    output_tokens: output ?? 0,
    total_tokens: total ?? (input ?? 0) + (output ?? 0),
  };
  const cacheRead = firstCount(attributes, keysOf(CACHE_READ_KEYS));
  const cacheWrite = firstCount(attributes, keysOf(CACHE_WRITE_KEYS));
  const reasoning = firstCount(attributes, keysOf(REASONING_KEYS));
  if (cacheRead !== null) usage.cache_read_input_tokens = cacheRead;
  if (cacheWrite !== null) usage.cache_creation_input_tokens = cacheWrite;
  if (reasoning !== null) usage.reasoning_tokens = reasoning;
  return usage;
}

function firstCount(attributes: Record<string, unknown>, keys: readonly string[]): number | null {
  for (const key of keys) {
    const value = attributes[key];
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (Number.isFinite(n) && n >= 0) return n;
  }
  return null;
}

// ---- §11.D model, provider, inputs and outputs --------------------------------------------

export const MODEL_KEYS = ['gen_ai.response.model', 'gen_ai.request.model', 'llm.response.model_name', 'llm.model_name', 'llm.request.model_name', 'ai.response.model', 'ai.model.id', 'embedding.model_name'];
export const PROVIDER_KEYS = ['gen_ai.provider.name', 'gen_ai.system', 'llm.provider', 'llm.system', 'ai.model.provider'];

export function modelOf(attributes: Record<string, unknown>): string | null {
  for (const key of MODEL_KEYS) {
    const value = cleanIdValue(attributes[key]);
    if (value !== null) return value;
  }
  return null;
}

/** The provider; the AI SDK's `openai.chat` style names keep their prefix (`openai`). */
export function providerOf(attributes: Record<string, unknown>): string | null {
  for (const key of PROVIDER_KEYS) {
    const value = cleanIdValue(attributes[key]);
    if (value !== null) return key === 'ai.model.provider' ? value.split('.')[0]! : value;
  }
  return null;
}

/**
 * §11.D: the span's inputs as a JSON value, or undefined. JSON strings are parsed (the JS OTel
 * API can only record structured values as JSON text); flattened OpenInference and OpenLLMetry
 * messages are rebuilt into lists.
 */
export function inputsOf(attributes: Record<string, unknown>, events: readonly { name: string; attributes: Record<string, unknown> }[]): unknown {
  if (SpanAttributeKey.INPUTS in attributes) return jsonValue(attributes[SpanAttributeKey.INPUTS]);
  const messages = attributes['gen_ai.input.messages'];
  if (nonEmpty(messages)) {
    const system = attributes['gen_ai.system_instructions'];
    return nonEmpty(system) ? { system_instructions: jsonValue(system), messages: jsonValue(messages) } : jsonValue(messages);
  }
  if (nonEmpty(attributes['input.value'])) return ioValue(attributes['input.value'], attributes['input.mime_type']);
  const oiMessages = unflatten(attributes, 'llm.input_messages.');
  if (oiMessages !== undefined) return oiMessages;
  for (const key of ['ai.prompt.messages', 'ai.prompt', 'gen_ai.tool.call.arguments', 'ai.toolCall.args', 'traceloop.entity.input']) {
    if (nonEmpty(attributes[key])) return jsonValue(attributes[key]);
  }
  const prompts = unflatten(attributes, 'gen_ai.prompt.');
  if (prompts !== undefined) return prompts;
  const details = events.find((e) => e.name === 'gen_ai.client.inference.operation.details');
  if (details && nonEmpty(details.attributes['gen_ai.input.messages'])) return jsonValue(details.attributes['gen_ai.input.messages']);
  return undefined;
}

/** §11.D: the span's outputs, by the same rules as its inputs. */
export function outputsOf(attributes: Record<string, unknown>, events: readonly { name: string; attributes: Record<string, unknown> }[]): unknown {
  if (SpanAttributeKey.OUTPUTS in attributes) return jsonValue(attributes[SpanAttributeKey.OUTPUTS]);
  if (nonEmpty(attributes['gen_ai.output.messages'])) return jsonValue(attributes['gen_ai.output.messages']);
  if (nonEmpty(attributes['output.value'])) return ioValue(attributes['output.value'], attributes['output.mime_type']);
  const oiMessages = unflatten(attributes, 'llm.output_messages.');
  if (oiMessages !== undefined) return oiMessages;
  // The AI SDK's response text is plain text, not JSON, even when it looks like a number.
  if (nonEmpty(attributes['ai.response.text'])) return attributes['ai.response.text'];
  for (const key of ['ai.response.object', 'ai.response.toolCalls', 'gen_ai.tool.call.result', 'ai.toolCall.result', 'traceloop.entity.output']) {
    if (nonEmpty(attributes[key])) return jsonValue(attributes[key]);
  }
  const completions = unflatten(attributes, 'gen_ai.completion.');
  if (completions !== undefined) return completions;
  const details = events.find((e) => e.name === 'gen_ai.client.inference.operation.details');
  if (details && nonEmpty(details.attributes['gen_ai.output.messages'])) return jsonValue(details.attributes['gen_ai.output.messages']);
  return undefined;
}

/** §11.D: which message schema the inputs follow, as `mlflow.message.format`. */
export function messageFormatOf(attributes: Record<string, unknown>): string | null {
  if ('gen_ai.input.messages' in attributes) return 'otel_genai';
  if (Object.keys(attributes).some((k) => k.startsWith('llm.input_messages.'))) return 'openinference';
  if ('ai.prompt.messages' in attributes) return 'vercel_ai';
  return null;
}

/**
 * Rebuilds `<prefix><index>.<path>` attributes (OpenInference `llm.input_messages.0.message.role`,
 * OpenLLMetry `gen_ai.prompt.0.content`) into a list of nested objects; numeric path segments
 * become list indexes. Undefined when no key has the prefix.
 */
export function unflatten(attributes: Record<string, unknown>, prefix: string): unknown[] | undefined {
  const root: Record<string, unknown> = {};
  let found = false;
  for (const [key, value] of Object.entries(attributes)) {
    if (!key.startsWith(prefix)) continue;
    const path = key.slice(prefix.length).split('.');
    if (!/^\d+$/.test(path[0]!)) continue;
    found = true;
    let node = root;
    for (const [i, segment] of path.entries()) {
      if (i === path.length - 1) node[segment] = value;
      else node = (node[segment] = isRecord(node[segment]) ? node[segment] : {}) as Record<string, unknown>;
    }
  }
  return found ? (toLists(root) as unknown[]) : undefined;
}

/** Objects whose keys are all indexes become lists, in index order. */
function toLists(value: unknown): unknown {
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  if (keys.length > 0 && keys.every((k) => /^\d+$/.test(k))) {
    return keys.sort((a, b) => Number(a) - Number(b)).map((k) => toLists(value[k]));
  }
  return Object.fromEntries(keys.map((k) => [k, toLists(value[k])]));
}

/** `input.value` is JSON when its mime type says so (or it plainly is an object or a list). */
function ioValue(value: unknown, mimeType: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (mimeType === 'application/json' || /^\s*[[{]/.test(value)) {
    const parsed = parseJson(value);
    if (parsed !== undefined) return parsed;
  }
  return value;
}


function unquote(text: string): string {
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    const parsed = parseJson(text);
    if (typeof parsed === 'string') return parsed;
  }
  return text;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? unquote(value) : JSON.stringify(value);
}

function nonEmpty(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
