import { isRecord, type EndpointKind } from './openai-parsing.js';

// A streamed call is recorded as the object the same call would have returned unstreamed: the chunks
// (chat) or events (Responses) are folded as they pass, so a stream abandoned half way still records
// what had arrived.

/** Folds a stream's items into the response object they describe. */
export interface StreamAssembler {
  /** Items seen so far. */
  readonly count: number;
  add(item: unknown): void;
  /** The assembled response (partial if the stream did not complete). */
  result(): unknown;
}

export function streamAssembler(kind: EndpointKind): StreamAssembler | undefined {
  if (kind === 'chat') return new ChatChunkAssembler();
  if (kind === 'responses') return new ResponseEventAssembler();
  return undefined;
}

type Json = Record<string, unknown>;

interface ToolCallDraft {
  index: number;
  id?: string;
  type: string;
  function: { name: string; arguments: string };
}

interface ChoiceDraft {
  index: number;
  role: string;
  content: string | null;
  refusal: string | null;
  toolCalls: Map<number, ToolCallDraft>;
  finishReason: unknown;
  logprobs: unknown;
}

/**
 * `chat.completion.chunk`s into a `chat.completion`: content, refusal and tool-call arguments are
 * concatenated per choice (tool calls keyed by their `index`), the last chunk's `usage` kept
 * (present when the request asked for `stream_options: {include_usage: true}`).
 */
class ChatChunkAssembler implements StreamAssembler {
  count = 0;
  private header: Json = {};
  private readonly choices = new Map<number, ChoiceDraft>();
  private usage: unknown;

  add(chunk: unknown): void {
    this.count++;
    if (!isRecord(chunk)) return;
    for (const key of ['id', 'created', 'model', 'system_fingerprint', 'service_tier'] as const) {
      if (chunk[key] !== undefined && chunk[key] !== null) this.header[key] = chunk[key];
    }
    if (isRecord(chunk.usage)) this.usage = chunk.usage;
    if (!Array.isArray(chunk.choices)) return;
    for (const choice of chunk.choices as unknown[]) {
      if (!isRecord(choice)) continue;
      const index = typeof choice.index === 'number' ? choice.index : 0;
      let draft = this.choices.get(index);
      if (draft === undefined) {
        draft = { index, role: 'assistant', content: null, refusal: null, toolCalls: new Map(), finishReason: null, logprobs: null };
        this.choices.set(index, draft);
      }
      if (choice.finish_reason !== undefined && choice.finish_reason !== null) draft.finishReason = choice.finish_reason;
      if (choice.logprobs !== undefined && choice.logprobs !== null) draft.logprobs = choice.logprobs;
      const delta = choice.delta;
      if (!isRecord(delta)) continue;
      if (typeof delta.role === 'string') draft.role = delta.role;
      if (typeof delta.content === 'string') draft.content = (draft.content ?? '') + delta.content;
      if (typeof delta.refusal === 'string') draft.refusal = (draft.refusal ?? '') + delta.refusal;
      if (Array.isArray(delta.tool_calls)) for (const call of delta.tool_calls as unknown[]) addToolCall(draft, call);
    }
  }

  result(): unknown {
    const choices = [...this.choices.values()]
      .sort((a, b) => a.index - b.index)
      .map((draft) => {
        const message: Json = { role: draft.role, content: draft.content, refusal: draft.refusal };
        if (draft.toolCalls.size > 0) {
          message.tool_calls = [...draft.toolCalls.values()].sort((a, b) => a.index - b.index).map(({ index: _index, ...call }) => call);
        }
        return { index: draft.index, message, finish_reason: draft.finishReason, logprobs: draft.logprobs };
      });
    return { ...this.header, object: 'chat.completion', choices, ...(this.usage !== undefined && { usage: this.usage }) };
  }
}

function addToolCall(draft: ChoiceDraft, call: unknown): void {
  if (!isRecord(call)) return;
  const index = typeof call.index === 'number' ? call.index : draft.toolCalls.size;
  let toolCall = draft.toolCalls.get(index);
  if (toolCall === undefined) {
    toolCall = { index, type: 'function', function: { name: '', arguments: '' } };
    draft.toolCalls.set(index, toolCall);
  }
  if (typeof call.id === 'string') toolCall.id = call.id;
  if (typeof call.type === 'string') toolCall.type = call.type;
  const fn = call.function;
  if (isRecord(fn)) {
    if (typeof fn.name === 'string') toolCall.function.name += fn.name;
    if (typeof fn.arguments === 'string') toolCall.function.arguments += fn.arguments;
  }
}

/** Events that carry the whole response as it stands. */
const SNAPSHOT_EVENTS = new Set(['response.created', 'response.in_progress', 'response.completed', 'response.failed', 'response.incomplete']);

/**
 * Responses stream events into a `response`: the final `response.completed` (or `.failed`,
 * `.incomplete`) event carries it whole; until then, the latest snapshot with the output items
 * finished so far and the text deltas received. `output_text` is added as the SDK adds it to
 * unstreamed responses, so the trace's response preview is the reply.
 */
class ResponseEventAssembler implements StreamAssembler {
  count = 0;
  private snapshot: Json = {};
  private final = false;
  private readonly items = new Map<number, unknown>();
  private text = '';

  add(event: unknown): void {
    this.count++;
    if (!isRecord(event) || typeof event.type !== 'string') return;
    if (SNAPSHOT_EVENTS.has(event.type) && isRecord(event.response)) {
      this.snapshot = event.response;
      this.final = event.type !== 'response.created' && event.type !== 'response.in_progress';
    } else if (event.type === 'response.output_item.done' && typeof event.output_index === 'number') {
      this.items.set(event.output_index, event.item);
    } else if (event.type === 'response.output_text.delta' && typeof event.delta === 'string') {
      this.text += event.delta;
    }
  }

  result(): unknown {
    if (this.final) return { ...this.snapshot, output_text: outputText(this.snapshot.output) };
    const output = [...this.items.entries()].sort(([a], [b]) => a - b).map(([, item]) => item);
    return { ...this.snapshot, output, output_text: this.text };
  }
}

/** The text of a response's assistant messages, as the SDK's `output_text`. */
function outputText(output: unknown): string {
  if (!Array.isArray(output)) return '';
  const texts: string[] = [];
  for (const item of output as unknown[]) {
    if (!isRecord(item) || item.type !== 'message' || !Array.isArray(item.content)) continue;
    for (const part of item.content as unknown[]) if (isRecord(part) && part.type === 'output_text' && typeof part.text === 'string') texts.push(part.text);
  }
  return texts.join('');
}
