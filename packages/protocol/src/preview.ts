import { REQUEST_RESPONSE_PREVIEW_MAX_LENGTH } from './keys.js';

/**
 * Request and response previews, as `@mlflow/core` 0.2.0 builds them from the root span: the text of
 * the last user message of a chat request (OpenAI chat completions, OpenAI Responses, Anthropic-style
 * `messages`), the text of the assistant's reply, or else the value's JSON; cut to 1000 characters.
 * The SDK previews its traces with these, and the server the traces that arrive without previews
 * (OTLP, a span upload), so a trace previews the same whichever way it came.
 *
 * One deliberate difference: a plain string value previews as itself, not as its JSON (`Hello`, not
 * `"Hello"`), which is what the UI's request/response columns want to show.
 */
export function requestPreview(inputs: unknown): string {
  return truncatePreview(messageText(inputs, 'user') ?? jsonPreview(inputs));
}

export function responsePreview(outputs: unknown): string {
  return truncatePreview(messageText(outputs, 'assistant') ?? jsonPreview(outputs));
}

/** Cuts to 1000 characters (the first 997 and `...`), with any NUL shown as U+FFFD. */
export function truncatePreview(text: string): string {
  const shown = displayText(text);
  return shown.length > REQUEST_RESPONSE_PREVIEW_MAX_LENGTH ? `${shown.slice(0, REQUEST_RESPONSE_PREVIEW_MAX_LENGTH - 3)}...` : shown;
}

/**
 * Text to show: a NUL character (U+0000) becomes the replacement character U+FFFD. Previews are
 * display text (and PostgreSQL cannot store a NUL in text); the span keeps the exact value.
 *
 * @example
 * displayText('a\u0000b') // 'a\uFFFDb'
 */
export function displayText(text: string): string {
  return text.includes('\u0000') ? text.replaceAll('\u0000', '\uFFFD') : text;
}

/** Values here were decoded from JSON, so only a hand-built cycle or BigInt can fail to encode. */
function jsonPreview(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? '';
  } catch (error) {
    return `[Unserializable: ${error instanceof Error ? error.message : String(error)}]`;
  }
}

type Role = 'user' | 'assistant';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The text of the last message with `role` in a chat-shaped value, looking at the value itself and,
 * for a traced function's named inputs, at each of its arguments.
 */
function messageText(value: unknown, role: Role): string | undefined {
  const direct = chatText(value, role);
  if (direct !== undefined || !isRecord(value)) return direct;
  const values = Object.values(value);
  for (let i = values.length - 1; i >= 0; i--) {
    const text = chatText(values[i], role);
    if (text !== undefined) return text;
  }
  return undefined;
}

function chatText(value: unknown, role: Role): string | undefined {
  if (Array.isArray(value)) return lastMessageText(value, role);
  if (!isRecord(value)) return undefined;
  // Chat completions / Anthropic request: { messages: [...] }
  if (Array.isArray(value.messages)) return lastMessageText(value.messages, role);
  if (role === 'user') {
    // Responses request: { input: "..." | [...] }
    if (typeof value.input === 'string' && ('model' in value || 'instructions' in value)) return value.input;
    if (Array.isArray(value.input)) return lastMessageText(value.input, role);
    return undefined;
  }
  // Chat completion: { choices: [{ message: { role: 'assistant', content } }] }
  if (Array.isArray(value.choices)) {
    const message = (value.choices[0] as { message?: unknown } | undefined)?.message;
    return isRecord(message) ? contentText(message.content) : undefined;
  }
  // Responses: { output_text } or { output: [{ type: 'message', role: 'assistant', content: [...] }] }
  if (typeof value.output_text === 'string' && value.output_text !== '') return value.output_text;
  if (Array.isArray(value.output)) return lastMessageText(value.output, role);
  // Anthropic message: { role: 'assistant', content: [{ type: 'text', text }] }
  if (value.role === 'assistant' && 'content' in value) return contentText(value.content);
  return undefined;
}

function lastMessageText(messages: unknown[], role: Role): string | undefined {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (isRecord(message) && message.role === role) {
      const text = contentText(message.content);
      if (text !== undefined) return text;
    }
  }
  return undefined;
}

/** A message's content: a string, or the text parts of a content array joined by newlines. */
function contentText(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const texts: string[] = [];
  for (const part of content) {
    if (typeof part === 'string') texts.push(part);
    else if (isRecord(part) && typeof part.text === 'string') texts.push(part.text);
  }
  return texts.length > 0 ? texts.join('\n') : undefined;
}
