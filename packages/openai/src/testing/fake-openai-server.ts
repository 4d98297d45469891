import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A local OpenAI-compatible endpoint, for demos without an API key and for tests that drive the
// real `openai` client over HTTP. A DEVELOPMENT AID: replies are canned and deterministic, derived
// from the last user message and the turn count, so a multi-turn conversation reads as one.
//
// Error injection, by a marker in the last user message (or Responses input):
//   [[error:429]]   (any 4xx/5xx status) that status with OpenAI's error JSON, and `x-should-retry: false`
//   [[error:stream]] a streamed reply that fails after its first chunk (chat: an `error` event, which
//                    the SDK throws as an APIError; Responses: a `response.failed` event); unstreamed: 500
// Tools: when the request defines function tools and the last message is the user's, the reply calls
// the first tool with `{"query": <the user's text>}`; after a tool result, it answers with that result.

/** The line the server announces itself with: what it is, and what it is not. */
export const FAKE_OPENAI_BANNER = 'Fake OpenAI endpoint: a development aid for offline demos and tests, NOT OpenAI. Replies are canned and deterministic.';

/** Options of `startFakeOpenAIServer`. All optional. */
export interface FakeOpenAIServerOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Pause between streamed chunks, in milliseconds. Default 0. */
  chunkDelayMillis?: number;
  /** Called once with the banner and the address when listening. Default: silent. */
  log?: (line: string) => void;
}

/** A request the fake endpoint received, for tests to inspect. */
export interface FakeOpenAIRequest {
  path: string;
  body: unknown;
}

export interface FakeOpenAIServer {
  /** Base URL for the client, ending in `/v1` (`new OpenAI({ baseURL: server.url, apiKey: 'x' })`). */
  url: string;
  port: number;
  /** The last 1000 requests, oldest first. */
  readonly requests: FakeOpenAIRequest[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_KEPT_REQUESTS = 1000;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** About four characters a token, as OpenAI's tokenizers average on English. */
function tokensOf(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : typeof part === 'string' ? part : '')).join('\n');
}

function id(prefix: string): string {
  return `${prefix}${randomBytes(12).toString('hex')}`;
}

/** An API error in OpenAI's shape. */
class FakeApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

function injectedError(status: number): FakeApiError {
  if (status === 429) return new FakeApiError(429, 'Rate limit reached (injected by the fake OpenAI endpoint).', 'requests', 'rate_limit_exceeded');
  if (status === 401) return new FakeApiError(401, 'Incorrect API key provided (injected by the fake OpenAI endpoint).', 'invalid_request_error', 'invalid_api_key');
  if (status >= 500) return new FakeApiError(status, 'The server had an error while processing your request (injected by the fake OpenAI endpoint).', 'server_error', null);
  return new FakeApiError(status, `Injected error ${status} (fake OpenAI endpoint).`, 'invalid_request_error', null);
}

/** The conversation a request carries, reduced to what the canned reply depends on. */
interface Conversation {
  turn: number;
  lastUserText: string;
  /** Set when the last message is a tool result: its text. */
  toolResult?: string;
  /** The first function tool's name, when the request defines tools and the user spoke last. */
  toolToCall?: string;
  promptTokens: number;
}

function marker(text: string): { status?: number; stream?: boolean } {
  const match = /\[\[error:(\d{3}|stream)\]\]/.exec(text);
  if (match === null) return {};
  return match[1] === 'stream' ? { stream: true } : { status: Number(match[1]) };
}

function firstFunctionTool(tools: unknown, choice: unknown): string | undefined {
  if (!Array.isArray(tools) || choice === 'none') return undefined;
  for (const tool of tools as unknown[]) {
    if (!isRecord(tool) || tool.type !== 'function') continue;
    const name = isRecord(tool.function) ? tool.function.name : tool.name;
    if (typeof name === 'string') return name;
  }
  return undefined;
}

function replyText(conversation: Conversation): string {
  if (conversation.toolResult !== undefined) return `The tool says: ${conversation.toolResult}`;
  const said = conversation.lastUserText.length > 200 ? `${conversation.lastUserText.slice(0, 197)}...` : conversation.lastUserText;
  if (conversation.turn <= 1) return `Hello! This is turn 1 of our conversation. You said: "${said}". How can I help further?`;
  return `This is turn ${conversation.turn} of our conversation. You said: "${said}". I remember the ${conversation.turn - 1} earlier message${conversation.turn === 2 ? '' : 's'} too.`;
}

function chatConversation(body: Json): Conversation {
  const messages = Array.isArray(body.messages) ? (body.messages as unknown[]).filter(isRecord) : [];
  const users = messages.filter((m) => m.role === 'user');
  const last = messages[messages.length - 1];
  const conversation: Conversation = {
    turn: users.length,
    lastUserText: textOf(users[users.length - 1]?.content),
    promptTokens: messages.reduce((sum, m) => sum + 3 + tokensOf(textOf(m.content)), 3),
  };
  if (last?.role === 'tool') conversation.toolResult = textOf(last.content);
  else {
    const tool = firstFunctionTool(body.tools, body.tool_choice);
    if (tool !== undefined && last?.role === 'user') conversation.toolToCall = tool;
  }
  return conversation;
}

function responsesConversation(body: Json): Conversation {
  const items: Json[] = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : Array.isArray(body.input) ? (body.input as unknown[]).filter(isRecord) : [];
  const users = items.filter((item) => item.role === 'user');
  const last = items[items.length - 1];
  const instructions = typeof body.instructions === 'string' ? body.instructions : '';
  const conversation: Conversation = {
    turn: users.length,
    lastUserText: textOf(users[users.length - 1]?.content),
    promptTokens: items.reduce((sum, item) => sum + 3 + tokensOf(textOf(item.content ?? item.output)), 3 + (instructions ? tokensOf(instructions) : 0)),
  };
  if (last?.type === 'function_call_output') conversation.toolResult = textOf(last.output);
  else {
    const tool = firstFunctionTool(body.tools, body.tool_choice);
    if (tool !== undefined && last?.role === 'user') conversation.toolToCall = tool;
  }
  return conversation;
}

/** Splits text into word-sized pieces that join back to it exactly. */
function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [text];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class SseWriter {
  constructor(
    private readonly res: ServerResponse,
    private readonly delayMillis: number,
  ) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-request-id': id('req_') });
  }

  /** False once the client has gone (it broke out of its loop or aborted). */
  async send(data: unknown, event?: string): Promise<boolean> {
    if (this.res.destroyed || this.res.writableEnded) return false;
    this.res.write(`${event === undefined ? '' : `event: ${event}\n`}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    if (this.delayMillis > 0) await sleep(this.delayMillis);
    return !this.res.destroyed;
  }

  end(): void {
    if (!this.res.writableEnded) this.res.end();
  }
}

async function chatCompletions(body: Json, res: ServerResponse, delayMillis: number): Promise<void> {
  const conversation = chatConversation(body);
  const injected = marker(conversation.lastUserText);
  if (injected.status !== undefined) throw injectedError(injected.status);
  const model = typeof body.model === 'string' ? body.model : 'fake-model';
  const created = Math.floor(Date.now() / 1000);
  const completionId = id('chatcmpl-');
  const text = replyText(conversation);
  const toolCall = conversation.toolToCall === undefined ? undefined : { id: id('call_'), type: 'function', function: { name: conversation.toolToCall, arguments: JSON.stringify({ query: conversation.lastUserText }) } };
  const completionTokens = tokensOf(toolCall === undefined ? text : toolCall.function.arguments);
  const usage = { prompt_tokens: conversation.promptTokens, completion_tokens: completionTokens, total_tokens: conversation.promptTokens + completionTokens, prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 } };
  const finishReason = toolCall === undefined ? 'stop' : 'tool_calls';

  if (body.stream !== true) {
    if (injected.stream) throw injectedError(500);
    const message = toolCall === undefined ? { role: 'assistant', content: text, refusal: null, annotations: [] } : { role: 'assistant', content: null, refusal: null, annotations: [], tool_calls: [toolCall] };
    sendJson(res, 200, { id: completionId, object: 'chat.completion', created, model, choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }], usage, service_tier: 'default', system_fingerprint: 'fake-openai' });
    return;
  }

  const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
  const sse = new SseWriter(res, delayMillis);
  const chunk = (delta: Json, finish: string | null = null) => ({
    id: completionId,
    object: 'chat.completion.chunk',
    created,
    model,
    service_tier: 'default',
    system_fingerprint: 'fake-openai',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage && { usage: null }),
  });
  if (toolCall === undefined) {
    if (!(await sse.send(chunk({ role: 'assistant', content: '', refusal: null })))) return sse.end();
    for (const [i, piece] of pieces(text).entries()) {
      if (!(await sse.send(chunk({ content: piece })))) return sse.end();
      if (injected.stream && i === 0) {
        await sse.send({ error: { message: 'The model failed mid-stream (injected by the fake OpenAI endpoint).', type: 'server_error', param: null, code: null } });
        return sse.end();
      }
    }
  } else {
    const { arguments: args, name } = toolCall.function;
    if (!(await sse.send(chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: toolCall.id, type: 'function', function: { name, arguments: '' } }] })))) return sse.end();
    for (let i = 0; i < args.length; i += 8) {
      if (!(await sse.send(chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(i, i + 8) } }] })))) return sse.end();
    }
  }
  if (!(await sse.send(chunk({}, finishReason)))) return sse.end();
  if (includeUsage) await sse.send({ id: completionId, object: 'chat.completion.chunk', created, model, service_tier: 'default', system_fingerprint: 'fake-openai', choices: [], usage });
  await sse.send('[DONE]');
  sse.end();
}

async function responses(body: Json, res: ServerResponse, delayMillis: number): Promise<void> {
  const conversation = responsesConversation(body);
  const injected = marker(conversation.lastUserText);
  if (injected.status !== undefined) throw injectedError(injected.status);
  const model = typeof body.model === 'string' ? body.model : 'fake-model';
  const text = replyText(conversation);
  const messageId = id('msg_');
  const call = conversation.toolToCall === undefined ? undefined : { type: 'function_call', id: id('fc_'), call_id: id('call_'), name: conversation.toolToCall, arguments: JSON.stringify({ query: conversation.lastUserText }), status: 'completed' };
  const outputTokens = tokensOf(call === undefined ? text : call.arguments);
  const base = {
    id: id('resp_'),
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    model,
    instructions: body.instructions ?? null,
    tools: Array.isArray(body.tools) ? body.tools : [],
    tool_choice: body.tool_choice ?? 'auto',
    parallel_tool_calls: true,
    temperature: 1,
    top_p: 1,
    metadata: {},
    error: null,
    incomplete_details: null,
  };
  const message = (content: string, status: string) => ({ type: 'message', id: messageId, status, role: 'assistant', content: content === '' && status === 'in_progress' ? [] : [{ type: 'output_text', text: content, annotations: [] }] });
  const usage = { input_tokens: conversation.promptTokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: outputTokens, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: conversation.promptTokens + outputTokens };
  const done = { ...base, status: 'completed', output: [call ?? message(text, 'completed')], usage };

  if (body.stream !== true) {
    if (injected.stream) throw injectedError(500);
    sendJson(res, 200, done);
    return;
  }

  const sse = new SseWriter(res, delayMillis);
  let sequence = 0;
  const emit = (type: string, fields: Json) => sse.send({ type, sequence_number: sequence++, ...fields }, type);
  const inProgress = { ...base, status: 'in_progress', output: [], usage: null };
  if (!(await emit('response.created', { response: inProgress }))) return sse.end();
  if (!(await emit('response.in_progress', { response: inProgress }))) return sse.end();
  if (call !== undefined) {
    if (!(await emit('response.output_item.added', { output_index: 0, item: { ...call, arguments: '', status: 'in_progress' } }))) return sse.end();
    if (!(await emit('response.function_call_arguments.delta', { item_id: call.id, output_index: 0, delta: call.arguments }))) return sse.end();
    if (!(await emit('response.function_call_arguments.done', { item_id: call.id, output_index: 0, arguments: call.arguments }))) return sse.end();
    if (!(await emit('response.output_item.done', { output_index: 0, item: call }))) return sse.end();
  } else {
    if (!(await emit('response.output_item.added', { output_index: 0, item: message('', 'in_progress') }))) return sse.end();
    if (!(await emit('response.content_part.added', { item_id: messageId, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }))) return sse.end();
    for (const [i, piece] of pieces(text).entries()) {
      if (!(await emit('response.output_text.delta', { item_id: messageId, output_index: 0, content_index: 0, delta: piece, logprobs: [] }))) return sse.end();
      if (injected.stream && i === 0) {
        const error = { code: 'server_error', message: 'The model failed mid-stream (injected by the fake OpenAI endpoint).' };
        await emit('response.failed', { response: { ...base, status: 'failed', error, output: [message(piece, 'incomplete')], usage: null } });
        return sse.end();
      }
    }
    if (!(await emit('response.output_text.done', { item_id: messageId, output_index: 0, content_index: 0, text, logprobs: [] }))) return sse.end();
    if (!(await emit('response.content_part.done', { item_id: messageId, output_index: 0, content_index: 0, part: { type: 'output_text', text, annotations: [] } }))) return sse.end();
    if (!(await emit('response.output_item.done', { output_index: 0, item: message(text, 'completed') }))) return sse.end();
  }
  await emit('response.completed', { response: done });
  sse.end();
}

/** A unit vector derived from the text: equal texts embed equally. */
function vectorOf(text: string, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  let seed = createHash('sha256').update(text).digest();
  for (let i = 0; i < dimensions; i++) {
    if (i % 16 === 0 && i > 0) seed = createHash('sha256').update(seed).digest();
    vector[i] = seed.readInt16LE((i % 16) * 2) / 32768;
  }
  const norm = Math.hypot(...vector) || 1;
  for (let i = 0; i < dimensions; i++) vector[i] = vector[i]! / norm;
  return vector;
}

function embeddings(body: Json, res: ServerResponse): void {
  const inputs: unknown[] = Array.isArray(body.input) && !body.input.every((x) => typeof x === 'number') ? body.input : [body.input];
  const texts = inputs.map((input) => (typeof input === 'string' ? input : JSON.stringify(input)));
  const flagged = texts.map(marker).find((m) => m.status !== undefined);
  if (flagged?.status !== undefined) throw injectedError(flagged.status);
  if (texts.length === 0 || body.input === undefined) throw new FakeApiError(400, "'input' is required.", 'invalid_request_error', null);
  const dimensions = typeof body.dimensions === 'number' && body.dimensions > 0 ? Math.min(body.dimensions, 4096) : 8;
  const base64 = body.encoding_format === 'base64';
  const data = texts.map((text, index) => {
    const vector = vectorOf(text, dimensions);
    return { object: 'embedding', index, embedding: base64 ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') : Array.from(vector) };
  });
  const promptTokens = texts.reduce((sum, text) => sum + tokensOf(text), 0);
  sendJson(res, 200, { object: 'list', data, model: typeof body.model === 'string' ? body.model : 'fake-embedding', usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-request-id': id('req_'), ...headers });
  res.end(text);
}

function sendError(res: ServerResponse, error: FakeApiError): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  sendJson(res, error.status, { error: { message: error.message, type: error.type, param: null, code: error.code } }, { 'x-should-retry': 'false' });
}

async function readJson(req: IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new FakeApiError(413, 'Request body too large for the fake OpenAI endpoint.', 'invalid_request_error', null);
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new FakeApiError(400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null);
  }
  if (!isRecord(body)) throw new FakeApiError(400, 'The body of your request must be a JSON object.', 'invalid_request_error', null);
  return body;
}

/**
 * Starts the fake endpoint: `POST /v1/chat/completions` (streamed or not, usage chunk with
 * `stream_options.include_usage`), `POST /v1/responses` (streamed or not), `POST /v1/embeddings`
 * (`float` or `base64`). A development aid, not OpenAI: see `FAKE_OPENAI_BANNER`.
 *
 * @example
 * const fake = await startFakeOpenAIServer();
 * const openai = new OpenAI({ baseURL: fake.url, apiKey: 'fake', maxRetries: 0 });
 * await openai.chat.completions.create({ model: 'gpt-4.1-mini', messages: [{ role: 'user', content: 'Hi' }] });
 * await fake.close();
 */
export async function startFakeOpenAIServer(options: FakeOpenAIServerOptions = {}): Promise<FakeOpenAIServer> {
  const requests: FakeOpenAIRequest[] = [];
  const delay = options.chunkDelayMillis ?? 0;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    void (async () => {
      try {
        if (req.method !== 'POST') throw new FakeApiError(404, `Unknown request URL: ${req.method} ${path}. The fake OpenAI endpoint serves POST /v1/chat/completions, /v1/responses and /v1/embeddings.`, 'invalid_request_error', 'unknown_url');
        const body = await readJson(req);
        requests.push({ path, body });
        if (requests.length > MAX_KEPT_REQUESTS) requests.shift();
        if (path === '/v1/chat/completions') await chatCompletions(body, res, delay);
        else if (path === '/v1/responses') await responses(body, res, delay);
        else if (path === '/v1/embeddings') embeddings(body, res);
        else throw new FakeApiError(404, `Unknown request URL: POST ${path}.`, 'invalid_request_error', 'unknown_url');
      } catch (error) {
        sendError(res, error instanceof FakeApiError ? error : new FakeApiError(500, `Fake OpenAI endpoint failure: ${String(error)}`, 'server_error', null));
      }
    })();
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`;
  options.log?.(`${FAKE_OPENAI_BANNER} Listening on ${url}`);
  return {
    url,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
