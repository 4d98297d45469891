/**
 * `GET /api/threadline/experiments/{experiment_id}/events?session_id=`: a stream of server-sent
 * events (`text/event-stream`) that says when an experiment's traces change, so that a page
 * showing them fetches again instead of polling. Events name what changed, never its content:
 * a client that may read the experiment fetches the rest through the other endpoints.
 *
 * - `event: changes`, `data:` a {@link LiveChangesJson}: at most about ten a second per stream,
 *   bursts merged into one;
 * - comments (`: heartbeat`) every 15 s, so that proxies and the client see a live connection;
 * - the server ends a stream after some minutes (the client reconnects, and its access is
 *   checked again), and answers 503 with Retry-After when it serves as many streams as it takes.
 */
export const LIVE_EVENTS_PATH = '/threadline/experiments/{experiment_id}/events';

/** The SSE event name of a {@link LiveChangesJson}. */
export const LIVE_CHANGES_EVENT = 'changes';

/**
 * What happened: a trace's info or tags (`trace`), its spans (`spans`), its deletion (`deleted`,
 * by a user, retention or an erase), an assessment of it or of its session (`assessment`, with a
 * null `trace_id` for a session's own). `experiment`: anything in the experiment may have changed
 * (too many changes at once to name, or some were missed): fetch everything shown again.
 */
export type LiveChangeKind = 'trace' | 'spans' | 'deleted' | 'assessment' | 'experiment';

export interface LiveChangeJson {
  experiment_id: string;
  trace_id: string | null;
  session_id: string | null;
  user_id: string | null;
  kind: LiveChangeKind;
}

/** The data of one `changes` event: what changed since the last one, each change once, in order. */
export interface LiveChangesJson {
  changes: LiveChangeJson[];
}
