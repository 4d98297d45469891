import type { LiveChangeJson } from '@threadline/protocol';
import { expect } from 'vitest';

/** One server-sent event, or a comment (`event: 'comment'`). */
export interface SentEvent {
  event: string;
  data: string;
  /** When it was read, ms since the epoch. */
  atMs: number;
}

/** A live event stream read over a real socket, as a browser's EventSource reads it. */
export interface EventStreamReader {
  response: Response;
  /** Everything read so far, in order. */
  events: SentEvent[];
  /** Every change of every `changes` event so far, in order. */
  changes(): LiveChangeJson[];
  /** Waits until `check` holds of what was read (polling, up to `timeoutMs`). */
  until(check: (reader: EventStreamReader) => boolean, timeoutMs?: number): Promise<void>;
  /** Whether the server ended the stream. */
  ended: boolean;
  close(): void;
}

/**
 * Opens `url` and reads its event stream in the background. Resolves once the response's headers
 * are in; its body's first bytes (`: live`) arrive once changes reach the stream.
 *
 * @example
 * const stream = await readEventStream(`${base}/api/threadline/experiments/0/events`);
 * await stream.until((s) => s.changes().length === 1);
 */
export async function readEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStreamReader> {
  const abort = new AbortController();
  const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader: EventStreamReader = {
    response,
    events: [],
    ended: false,
    changes: () => reader.events.filter((e) => e.event === 'changes').flatMap((e) => (JSON.parse(e.data) as { changes: LiveChangeJson[] }).changes),
    until: async (check, timeoutMs = 10_000) => {
      await expect.poll(() => check(reader), { timeout: timeoutMs, interval: 20 }).toBe(true);
    },
    close: () => abort.abort(),
  };
  if (!response.ok || !response.body) return reader;
  void (async () => {
    const decoder = new TextDecoder();
    let text = '';
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = text.indexOf('\n\n')) !== -1) {
          reader.events.push(...parseBlock(text.slice(0, end)));
          text = text.slice(end + 2);
        }
      }
    } catch {
      // Aborted by close().
    }
    reader.ended = true;
  })();
  return reader;
}

function parseBlock(block: string): SentEvent[] {
  const atMs = Date.now();
  const fields = block.split('\n');
  if (fields.every((f) => f.startsWith(':') || f.startsWith('retry:'))) return fields.filter((f) => f.startsWith(':')).map((f) => ({ event: 'comment', data: f.slice(1).trim(), atMs }));
  const event = fields.find((f) => f.startsWith('event:'))?.slice(6).trim() ?? 'message';
  const data = fields.filter((f) => f.startsWith('data:')).map((f) => f.slice(5).trimStart()).join('\n');
  return [{ event, data, atMs }];
}
