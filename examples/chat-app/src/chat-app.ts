import { AsyncLocalStorage } from 'node:async_hooks';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler, type Express } from 'express';
import OpenAI from 'openai';
import { tracedOpenAI } from '@threadline/openai';
import {
  AssessmentSourceType,
  flushTraces,
  getCurrentActiveSpan,
  logFeedback,
  logSessionFeedback,
  SpanType,
  threadlineSessions,
  trace,
  updateCurrentTrace,
  type SessionMiddlewareOptions,
} from '@threadline/tracing';
import { ConversationStore, type ChatMessage } from './conversation-store.js';

/** Options of `createChatApp`. Only `openai` is required. */
export interface ChatAppOptions {
  /** The OpenAI client (untraced: the app traces it with `tracedOpenAI`). */
  openai: OpenAI;
  /** Default `gpt-4.1-mini`, as in the seed. */
  model?: string;
  /** Default `You are a helpful assistant.` */
  systemPrompt?: string;
  /** Longest accepted message, in UTF-8 bytes. Default 32 KiB. */
  maxMessageBytes?: number;
  /** Where conversations are kept. Default: a `ConversationStore` with its default bounds. */
  conversations?: ConversationStore;
}

/** The seed's headers and defaults. */
export const SESSION_HEADERS = {
  userHeader: 'X-User-ID',
  sessionHeader: 'X-Session-ID',
  defaultUser: 'default-user',
  defaultSession: 'default-session',
} as const satisfies SessionMiddlewareOptions;

const DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024;

/**
 * Where a request's handler learns the id of the trace that answered it: the traced function
 * returns only the reply (its recorded output), and concurrent requests each have their own.
 */
const currentTurn = new AsyncLocalStorage<{ traceId?: string }>();
/** Above the message limit with room for JSON escapes, so an oversized message gets its own clear 400. */
const BODY_LIMIT = '1mb';

/** A request the app refuses, with the HTTP status and a message for the caller. */
class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The message of a `POST /chat` body, or the reason it is refused. */
function messageOf(body: unknown, maxBytes: number): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest(400, 'Send a JSON object such as {"message": "Hello, how are you?"} with Content-Type: application/json.');
  }
  const { message } = body as { message?: unknown };
  if (message === undefined) throw new BadRequest(400, 'The body has no "message": send {"message": "..."}.');
  if (typeof message !== 'string') throw new BadRequest(400, `"message" must be a string, not ${message === null ? 'null' : Array.isArray(message) ? 'an array' : `a ${typeof message}`}.`);
  if (message.trim() === '') throw new BadRequest(400, '"message" must not be empty.');
  const bytes = Buffer.byteLength(message, 'utf8');
  if (bytes > maxBytes) throw new BadRequest(400, `"message" is ${bytes} bytes long; the limit is ${maxBytes} bytes.`);
  return message;
}

/** A `POST /feedback` body: `{"trace_id"?, "rating": "up" | "down", "comment"?}`; no trace_id rates the whole conversation. */
function feedbackOf(body: unknown): { traceId?: string; thumbsUp: boolean; comment?: string } {
  const { trace_id: traceId, rating, comment } = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (traceId !== undefined && (typeof traceId !== 'string' || traceId === '')) throw new BadRequest(400, 'Send {"trace_id": "<from the /chat answer>", "rating": "up" or "down", "comment": "..."}, or no trace_id to rate the whole conversation.');
  if (rating !== 'up' && rating !== 'down') throw new BadRequest(400, '"rating" must be "up" or "down".');
  if (comment !== undefined && (typeof comment !== 'string' || comment.length > 2000)) throw new BadRequest(400, '"comment" must be a string of at most 2000 characters.');
  return { ...(traceId !== undefined ? { traceId: traceId as string } : {}), thumbsUp: rating === 'up', ...(comment !== undefined && comment.trim() !== '' ? { comment } : {}) };
}

/**
 * The seed's chat web app: `POST /chat` with `{"message"}` and the `X-User-ID` / `X-Session-ID`
 * headers answers `{"response", "trace_id"}`, keeping each session's history so the conversation
 * has turns; `POST /feedback` with `{"trace_id", "rating": "up" | "down", "comment"}` records the
 * end user's thumbs up or down on one of their answers as HUMAN feedback (`user_satisfaction`),
 * and without a `trace_id` on the whole conversation (`conversation_satisfaction`, on the session).
 * Each request is one trace: its root span is `process_chat` and the OpenAI call its child; the
 * `threadlineSessions` middleware puts the user and session on it as `mlflow.trace.user` /
 * `mlflow.trace.session`. Bad input is refused with a 400 before any trace starts.
 *
 * @example
 * init({ trackingUri: 'http://127.0.0.1:5000', experimentId: '0' });
 * createChatApp({ openai: new OpenAI() }).listen(8000);
 */
export function createChatApp(options: ChatAppOptions): Express {
  const openai = tracedOpenAI(options.openai);
  const model = options.model ?? 'gpt-4.1-mini';
  const systemPrompt = options.systemPrompt ?? 'You are a helpful assistant.';
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const conversations = options.conversations ?? new ConversationStore();

  // The seed's process_chat, with the history it lacked (and calling a function that exists).
  const processChat = trace(
    async function processChat(message: string, userId: string, sessionId: string): Promise<string> {
      // The root's inputs are the three arguments: preview the message itself, as a chat UI would.
      updateCurrentTrace({ requestPreview: message });
      const history = conversations.history(userId, sessionId);
      const messages: ChatMessage[] = [{ role: 'system', content: systemPrompt }, ...history, { role: 'user', content: message }];
      const completion = await openai.chat.completions.create({ model, messages });
      const reply = completion.choices[0]?.message.content ?? '';
      // Only an answered turn joins the history: a failed call leaves the conversation as it was.
      const traceId = getCurrentActiveSpan()?.traceId;
      const turn = currentTurn.getStore();
      if (turn) turn.traceId = traceId;
      conversations.append(userId, sessionId, traceId, { role: 'user', content: message }, { role: 'assistant', content: reply });
      return reply;
    },
    { name: 'process_chat', spanType: SpanType.CHAIN },
  );

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: BODY_LIMIT }));
  // After the body parser: the handlers then run inside the request's tracing scope.
  app.use(threadlineSessions(SESSION_HEADERS));

  app.get('/', (_req, res) => {
    res.json({ message: 'Threadline chat app example: POST /chat with {"message": "..."} and the X-User-ID / X-Session-ID headers.' });
  });

  app.post('/chat', async (req, res) => {
    const message = messageOf(req.body, maxMessageBytes);
    const userId = req.get(SESSION_HEADERS.userHeader) || SESSION_HEADERS.defaultUser;
    const sessionId = req.get(SESSION_HEADERS.sessionHeader) || SESSION_HEADERS.defaultSession;
    const turn: { traceId?: string } = {};
    const reply = await currentTurn.run(turn, () => processChat(message, userId, sessionId));
    // The trace id lets the client send feedback on this answer (POST /feedback).
    res.json({ response: reply, ...(turn.traceId !== undefined ? { trace_id: turn.traceId } : {}) });
  });

  app.post('/feedback', async (req, res) => {
    const { traceId, thumbsUp, comment } = feedbackOf(req.body);
    const userId = req.get(SESSION_HEADERS.userHeader) || SESSION_HEADERS.defaultUser;
    const sessionId = req.get(SESSION_HEADERS.sessionHeader) || SESSION_HEADERS.defaultSession;
    // Only on this user's own conversation: trace ids are not secrets to rate others' turns with.
    if (traceId !== undefined && !conversations.hasTurn(userId, sessionId, traceId)) throw new BadRequest(404, 'No answer with that trace_id in your conversation.');
    if (traceId === undefined && conversations.history(userId, sessionId).length === 0) throw new BadRequest(404, 'You have no conversation in this session to rate.');
    // The traces may still be in the export queue; feedback on what the server does not have yet is refused.
    await flushTraces({ timeoutMillis: 5000 });
    const common = { value: thumbsUp, ...(comment !== undefined ? { rationale: comment } : {}), source: { sourceType: AssessmentSourceType.HUMAN, sourceId: userId } };
    const feedback =
      traceId !== undefined
        ? await logFeedback(traceId, { name: 'user_satisfaction', ...common, metadata: { session_id: sessionId } })
        : // Without a trace_id, the rating is of the whole conversation.
          await logSessionFeedback(sessionId, { name: 'conversation_satisfaction', ...common });
    if (!feedback) {
      res.status(503).json({ error: 'feedback_not_recorded', message: 'The feedback could not be recorded now; try again.' });
      return;
    }
    res.json({ assessment_id: feedback.assessmentId });
  });

  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'Try GET /, POST /chat or POST /feedback.' });
  });

  const onError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    const { status, body } = errorReply(error);
    // An example app logs to the console; a real one would use its logger.
    if (status === 500) console.error('chat app: unexpected error', error);
    res.status(status).json(body);
  };
  app.use(onError);
  return app;
}

/** Maps what a request can fail with to a status and a JSON body with a clear message. */
function errorReply(error: unknown): { status: number; body: { error: string; message: string } } {
  if (error instanceof BadRequest) return { status: error.status, body: { error: error.status === 404 ? 'not_found' : 'invalid_request', message: error.message } };
  const type = (error as { type?: unknown }).type;
  if (type === 'entity.parse.failed') return { status: 400, body: { error: 'invalid_json', message: `The body is not valid JSON: ${(error as Error).message}` } };
  if (type === 'entity.too.large') return { status: 413, body: { error: 'too_large', message: `The body is larger than ${BODY_LIMIT}.` } };
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') return { status: 415, body: { error: 'unsupported_encoding', message: (error as Error).message } };
  if (error instanceof OpenAI.APIError) {
    return { status: 502, body: { error: 'model_error', message: `The model call failed${error.status === undefined ? '' : ` with status ${error.status}`}: ${error.message}` } };
  }
  return { status: 500, body: { error: 'internal_error', message: 'The chat app failed; see its log.' } };
}

/** A running app: its address and how to stop it. */
export interface RunningChatApp {
  url: string;
  close(): Promise<void>;
}

/** Listens on `port` (0: a free one) and `host` (default 127.0.0.1). */
export async function listenChatApp(app: Express, port = 0, host = '127.0.0.1'): Promise<RunningChatApp> {
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
