import { SpanAttributeKey } from '@threadline/protocol';
import type { SpanRecord } from '../trace-model.js';
import { wordsOf } from './words.js';

/**
 * Words indexed per upload of spans: enough for any conversation, while a multi-megabyte input
 * (a document pasted whole, a base64 image) costs no more than this to index. Both stores take it
 * (a PostgreSQL tsvector holds at most 1 MiB).
 */
export const MAX_INDEXED_WORDS = 20_000;

/** JSON nested this deep is not walked further. */
const MAX_DEPTH = 32;

/** What of a span is searched: its decoded attributes. */
export type SpanText = Pick<SpanRecord, 'attributes'>;

/**
 * The words a batch of spans adds to its trace's text index: the string values (never the keys)
 * of each span's inputs and outputs, a trace's request and response among them, with strings that
 * hold JSON (a serialized message list) read as JSON. Empty when the spans carry no text.
 *
 * @example
 * searchableWords([span({ 'mlflow.spanInputs': { messages: [{ role: 'user', content: 'Refund?' }] } })]); // 'user refund'
 */
export function searchableWords(spans: readonly SpanText[]): string {
  const words: string[] = [];
  const add = (value: unknown, depth: number): void => {
    if (words.length >= MAX_INDEXED_WORDS || depth > MAX_DEPTH) return;
    if (typeof value === 'string') {
      const json = embeddedJson(value);
      if (json !== undefined) return add(json, depth + 1);
      const found = wordsOf(value);
      const end = Math.min(found.length, MAX_INDEXED_WORDS - words.length);
      for (let i = 0; i < end; i++) words.push(found[i]!);
    } else if (Array.isArray(value)) {
      for (const item of value) add(item, depth + 1);
    } else if (value !== null && typeof value === 'object') {
      for (const item of Object.values(value)) add(item, depth + 1);
    }
  };
  for (const span of spans) {
    add(span.attributes[SpanAttributeKey.INPUTS], 0);
    add(span.attributes[SpanAttributeKey.OUTPUTS], 0);
  }
  return words.join(' ');
}

/** A string that is a JSON object or array, parsed; undefined for any other string. */
function embeddedJson(value: string): unknown {
  const first = value.trimStart()[0];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}
