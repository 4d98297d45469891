import { SpanAttributeKey, SpanType, type TokenUsage } from '@threadline/tracing';

// What a traced OpenAI call records, read from the request params and the response object. Pure
// functions over plain JSON shapes: no OpenAI types are imported at run time, so any 6.x client
// (and OpenAI-compatible servers that add or omit fields) is read the same way.

/** The endpoints `tracedOpenAI` traces, by their path from the client. */
export type EndpointKind = 'chat' | 'responses' | 'embeddings';

/** Resource path (property names from the client, joined by `.`) to the endpoint its `create` calls. */
export const TRACED_RESOURCES: ReadonlyMap<string, EndpointKind> = new Map([
  ['chat.completions', 'chat'],
  ['responses', 'responses'],
  ['embeddings', 'embeddings'],
]);

export interface EndpointSpec {
  /** Span name: the resource class name, as MLflow's OpenAI integrations name their spans. */
  name: string;
  spanType: SpanType;
  /** Whether the call is a chat (its messages and tools render as a conversation). */
  chat: boolean;
}

/**
 * Chat completions and Responses are both chat models (messages in, a message with tool calls
 * out), so both are `CHAT_MODEL`, as in MLflow's Python autolog; MLflow's TypeScript integration
 * says `LLM` for both, which hides the conversation shape from the UI.
 */
export const ENDPOINTS: Record<EndpointKind, EndpointSpec> = {
  chat: { name: 'Completions', spanType: SpanType.CHAT_MODEL, chat: true },
  responses: { name: 'Responses', spanType: SpanType.CHAT_MODEL, chat: true },
  embeddings: { name: 'Embeddings', spanType: SpanType.EMBEDDING, chat: false },
};

type Json = Record<string, unknown>;

export function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Attributes known before the call: model, provider, message format, tool definitions. */
export function requestAttributes(kind: EndpointKind, params: unknown, provider: string): Record<string, unknown> {
  const attributes: Record<string, unknown> = { [SpanAttributeKey.LLM_PROVIDER]: provider };
  if (!isRecord(params)) return attributes;
  if (typeof params.model === 'string') attributes[SpanAttributeKey.LLM_MODEL] = params.model;
  if (ENDPOINTS[kind].chat) {
    attributes[SpanAttributeKey.MESSAGE_FORMAT] = 'openai';
    const tools = chatTools(params.tools);
    if (tools !== undefined) attributes[SpanAttributeKey.CHAT_TOOLS] = tools;
  }
  return attributes;
}

/**
 * Tool definitions in the chat-completions form MLflow's chat view reads
 * (`{type: 'function', function: {name, description, parameters}}`). Responses function tools are
 * flat (`{type: 'function', name, parameters}`) and are nested the same way; built-in tools
 * (`web_search`, `file_search`, ...) are kept as they are.
 */
function chatTools(tools: unknown): unknown[] | undefined {
  if (!Array.isArray(tools) || tools.length === 0) return undefined;
  return tools.map((tool) => {
    if (!isRecord(tool) || tool.type !== 'function' || isRecord(tool.function)) return tool;
    const { type, name, description, parameters, strict } = tool;
    return { type, function: { name, description, parameters, strict } };
  });
}

/** Attributes known from the response: token usage. */
export function responseAttributes(response: unknown): Record<string, unknown> {
  const usage = isRecord(response) ? tokenUsage(response.usage) : undefined;
  return usage === undefined ? {} : { [SpanAttributeKey.TOKEN_USAGE]: usage };
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * `mlflow.chat.tokenUsage` from an OpenAI usage object: chat completions and embeddings say
 * `prompt_tokens` / `completion_tokens`, Responses `input_tokens` / `output_tokens`. Cached prompt
 * tokens are kept as `cache_read_input_tokens` when the API reports them.
 */
export function tokenUsage(usage: unknown): (TokenUsage & { cache_read_input_tokens?: number }) | undefined {
  if (!isRecord(usage)) return undefined;
  const input = count(usage.input_tokens) ?? count(usage.prompt_tokens);
  const output = count(usage.output_tokens) ?? count(usage.completion_tokens) ?? 0;
  if (input === undefined) return undefined;
  const result: TokenUsage & { cache_read_input_tokens?: number } = {
    input_tokens: input,
    output_tokens: output,
    total_tokens: count(usage.total_tokens) ?? input + output,
  };
  const details = isRecord(usage.prompt_tokens_details) ? usage.prompt_tokens_details : isRecord(usage.input_tokens_details) ? usage.input_tokens_details : undefined;
  const cached = count(details?.cached_tokens);
  if (cached !== undefined && cached > 0) result.cache_read_input_tokens = cached;
  return result;
}

/**
 * The outputs recorded for a response. Embedding vectors arrive as `Float32Array`s (the SDK asks
 * for base64 and decodes it), whose JSON would be an object keyed by index: they are recorded as
 * plain arrays of numbers.
 */
export function recordedOutputs(kind: EndpointKind, response: unknown): unknown {
  if (kind !== 'embeddings' || !isRecord(response) || !Array.isArray(response.data)) return response;
  return {
    ...response,
    data: response.data.map((item: unknown) =>
      isRecord(item) && ArrayBuffer.isView(item.embedding) ? { ...item, embedding: Array.from(item.embedding as Float32Array) } : item,
    ),
  };
}

/** The failure a Responses object reports in its body (`status: 'failed'`), if any. */
export function responseFailure(response: unknown): string | undefined {
  if (!isRecord(response) || response.status !== 'failed') return undefined;
  const error = response.error;
  return isRecord(error) && typeof error.message === 'string' ? error.message : 'The response failed';
}
