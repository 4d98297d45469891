import type { SpanJson } from '@threadline/protocol';

/** A chat message normalised from OpenAI-style (and a few other) shapes. Content is plain text. */
export interface ChatMessage {
  role: string;
  content: string;
  toolCalls?: { id?: string; name: string; arguments: string }[];
  toolCallId?: string;
  name?: string;
}

/** A span's attribute value: stored JSON-encoded, so decode once, keeping the raw text on failure. */
export function attributeValue(span: SpanJson, key: string): unknown {
  const raw = span.attributes?.[key];
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export function decodedAttributes(span: SpanJson): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(span.attributes ?? {})) out[key] = attributeValue(span, key);
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Text of an OpenAI/Anthropic content value: a string, or parts of which text parts are kept. */
export function contentText(content: unknown): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        if (typeof part === 'string') return part;
        if (!isObject(part)) return JSON.stringify(part);
        if (typeof part.text === 'string') return part.text;
        if (part.type === 'image_url' || part.type === 'image' || part.type === 'input_image') return '[image]';
        if (part.type === 'tool_use') return `[tool call ${String(part.name ?? '')}]`;
        if (part.type === 'tool_result') return contentText(part.content);
        return JSON.stringify(part);
      })
      .join('\n');
  }
  return JSON.stringify(content, null, 2);
}

function toMessage(m: unknown): ChatMessage | null {
  if (!isObject(m) || typeof m.role !== 'string') return null;
  const message: ChatMessage = { role: m.role, content: contentText(m.content) };
  if (Array.isArray(m.tool_calls)) {
    message.toolCalls = m.tool_calls.filter(isObject).map((call) => {
      const fn = isObject(call.function) ? call.function : {};
      const args = fn.arguments;
      return {
        ...(typeof call.id === 'string' ? { id: call.id } : {}),
        name: String(fn.name ?? call.name ?? 'tool'),
        arguments: typeof args === 'string' ? args : JSON.stringify(args ?? {}, null, 2),
      };
    });
  }
  if (typeof m.tool_call_id === 'string') message.toolCallId = m.tool_call_id;
  if (typeof m.name === 'string') message.name = m.name;
  return message;
}

/** Messages of a chat request (`{messages: [...]}`, a bare list, Responses API `input`), or null. */
export function requestMessages(inputs: unknown): ChatMessage[] | null {
  const list = Array.isArray(inputs) ? inputs : isObject(inputs) ? (inputs.messages ?? inputs.input) : undefined;
  if (!Array.isArray(list)) return null;
  const messages = list.map(toMessage).filter((m): m is ChatMessage => m !== null);
  return messages.length > 0 ? messages : null;
}

/** Messages of a chat response (`choices[].message`, `{message}`, `{messages}`, a message), or null. */
export function responseMessages(outputs: unknown): ChatMessage[] | null {
  if (!isObject(outputs)) return Array.isArray(outputs) ? requestMessages(outputs) : null;
  if (Array.isArray(outputs.choices)) {
    const messages = outputs.choices.map((c) => (isObject(c) ? toMessage(c.message) : null)).filter((m): m is ChatMessage => m !== null);
    return messages.length > 0 ? messages : null;
  }
  if (isObject(outputs.message)) {
    const m = toMessage(outputs.message);
    return m ? [m] : null;
  }
  if (Array.isArray(outputs.messages)) return requestMessages(outputs.messages);
  const m = toMessage(outputs);
  return m ? [m] : null;
}

/** Plain text of simple inputs/outputs: a string, or `{message|query|question|prompt|input|output|text|content: string}`. */
export function simpleText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (isObject(value)) {
    for (const key of ['message', 'query', 'question', 'prompt', 'input', 'output', 'text', 'content', 'answer', 'response']) {
      if (typeof value[key] === 'string') return value[key] as string;
    }
  }
  return null;
}

export interface Turn {
  /** The last user message, or the request text. */
  user: string | null;
  /** Steps between the user's message and the reply: assistant tool calls and tool results. */
  steps: ChatMessage[];
  /** The assistant's reply, or the response text. */
  assistant: string | null;
  /** The whole request history, when the input held messages (system prompt and earlier turns). */
  history: ChatMessage[] | null;
}

/**
 * One turn of a conversation from a trace's root span: the last user message, the tool steps
 * after it, and the final assistant reply. Falls back to the previews when the root span holds no
 * recognisable chat, so a turn never shows empty.
 */
export function turnOf(root: SpanJson | undefined, requestPreview?: string, responsePreview?: string): Turn {
  const inputs = root ? attributeValue(root, 'mlflow.spanInputs') : undefined;
  const outputs = root ? attributeValue(root, 'mlflow.spanOutputs') : undefined;
  return turnOfValues(inputs, outputs, previewText(requestPreview, 'request'), previewText(responsePreview, 'response'));
}

/**
 * A preview as text to read, as the session page shows the turn: previews are often the JSON of
 * the value (a chat request, `{"message": ...}`, a JSON-encoded string with its quotes escaped),
 * and the message or string inside is what the reader wants. Anything else (plain text, a preview
 * cut short so that it no longer parses) stays as it is.
 */
export function previewText(preview: string | null | undefined, side: 'request' | 'response'): string {
  if (!preview) return '';
  const trimmed = preview.trim();
  if (!/^[[{"]/.test(trimmed)) return preview;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return preview;
  }
  const turn = side === 'request' ? turnOfValues(value, undefined) : turnOfValues(undefined, value);
  return (side === 'request' ? turn.user : turn.assistant) ?? preview;
}

function turnOfValues(inputs: unknown, outputs: unknown, requestText?: string, responseText?: string): Turn {
  const history = requestMessages(inputs);
  const replies = responseMessages(outputs);
  let user: string | null = null;
  const steps: ChatMessage[] = [];
  if (history) {
    let lastUser = -1;
    history.forEach((m, i) => {
      if (m.role === 'user' || m.role === 'human') lastUser = i;
    });
    if (lastUser >= 0) {
      user = history[lastUser]!.content;
      steps.push(...history.slice(lastUser + 1).filter((m) => m.role === 'tool' || (m.toolCalls && m.toolCalls.length > 0)));
    }
  }
  user ??= simpleText(inputs) ?? (requestText || null);
  let assistant: string | null = null;
  if (replies) {
    for (const m of replies) {
      if (m.toolCalls && m.toolCalls.length > 0) steps.push(m);
      if (m.content) assistant = m.content;
    }
  }
  assistant ??= simpleText(outputs) ?? (responseText || null);
  return { user, steps, assistant, history };
}

export function rootSpan(spans: readonly SpanJson[]): SpanJson | undefined {
  const ids = new Set(spans.map((s) => s.span_id));
  return spans.find((s) => !s.parent_span_id) ?? spans.find((s) => !ids.has(s.parent_span_id ?? ''));
}

/** Nanosecond timestamps arrive as numbers (maybe above 2^53) or strings; milliseconds suffice here. */
export function nsToMs(ns: unknown): number | null {
  if (ns === null || ns === undefined || ns === '') return null;
  const n = typeof ns === 'string' ? Number(ns) : typeof ns === 'bigint' ? Number(ns) : (ns as number);
  return Number.isFinite(n) ? n / 1e6 : null;
}

/** OTLP's AnyValue in JSON (`{string_value}`, `{int_value}`, ...) as a plain value. */
function anyValue(v: unknown): unknown {
  if (!isObject(v)) return v;
  if ('string_value' in v) return v.string_value;
  if ('stringValue' in v) return v.stringValue;
  if ('int_value' in v) return Number(v.int_value);
  if ('intValue' in v) return Number(v.intValue);
  if ('double_value' in v) return v.double_value;
  if ('doubleValue' in v) return v.doubleValue;
  if ('bool_value' in v) return v.bool_value;
  if ('boolValue' in v) return v.boolValue;
  const array = (v.array_value ?? v.arrayValue) as { values?: unknown[] } | undefined;
  if (isObject(array)) return (array.values ?? []).map(anyValue);
  const kv = (v.kvlist_value ?? v.kvlistValue) as { values?: unknown[] } | undefined;
  if (isObject(kv)) return keyValues(kv.values ?? []);
  return v;
}
function keyValues(list: unknown): Record<string, unknown> {
  if (isObject(list)) return list;
  const out: Record<string, unknown> = {};
  if (Array.isArray(list)) for (const item of list) if (isObject(item) && typeof item.key === 'string') out[item.key] = anyValue(item.value);
  return out;
}

/**
 * Spans as the server serves them (OTLP-style attribute lists of `{key, value: {string_value}}`)
 * or as the SDKs upload them (maps of JSON-encoded strings), both as the latter.
 */
export function normalizeSpan(span: SpanJson): SpanJson {
  return {
    ...span,
    attributes: keyValues(span.attributes ?? {}),
    events: (span.events ?? []).map((e) => ({ ...e, attributes: keyValues(e.attributes ?? {}) })),
  };
}
