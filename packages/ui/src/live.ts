import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { LIVE_CHANGES_EVENT, LiveChangeJson } from '@threadline/protocol';
import { useCallback, useEffect, useRef, useState } from 'react';
import { eventsUrl } from './api';

/** What the page's Live badge says. */
export type LiveStatus = 'live' | 'paused' | 'connecting' | 'offline';

export interface LiveView {
  status: LiveStatus;
  /** Why it is paused or offline, for the badge's tooltip. */
  reason?: string;
}

/** The server's event name, checked against the protocol's at compile time. */
const CHANGES_EVENT: typeof LIVE_CHANGES_EVENT = 'changes';
/**
 * Shortest time between two refreshes, by default: a busy experiment refetches a list (a search of
 * a few hundred rows) at most this often per viewer.
 */
const REFRESH_INTERVAL_MS = 1_000;
/** Wait before trying again after the server refused the stream (503: it serves as many as it takes, or signed out). */
const OFFLINE_RETRY_MS = 15_000;
/** Changes waiting (while paused, say) beyond this count: everything shown is fetched again instead. */
const MAX_WAITING_CHANGES = 200;

/** Changes to refresh for, or everything the experiment shows. */
type Changes = LiveChangeJson[] | 'all';

/**
 * Keeps what a page shows of an experiment (or of one of its sessions) up to date as traces
 * arrive: one EventSource on the server's change stream, and on each change the queries it
 * touches refetched (react-query invalidation): at once, then at most every `refreshIntervalMs`
 * (default {@link REFRESH_INTERVAL_MS}), what arrives meanwhile together.
 *
 * Paused while `pausedBecause` says so (the user scrolled down a list, or is editing its filter):
 * changes are only remembered, and refreshed for once the pause ends. While the tab is hidden the
 * stream is closed (no cost while nobody watches, and no connection held from the browser's few
 * per server); back in view it opens again and refreshes once, since changes may have been missed.
 *
 * @example
 * const live = useLiveUpdates(experimentId, { pausedBecause: scrolled ? 'you scrolled down the list' : null });
 * return <LiveBadge view={live} />;
 */
export function useLiveUpdates(
  experimentId: string,
  { sessionId, pausedBecause = null, refreshIntervalMs = REFRESH_INTERVAL_MS }: { sessionId?: string; pausedBecause?: string | null; refreshIntervalMs?: number } = {},
): LiveView {
  const client = useQueryClient();
  const hidden = usePageHidden();
  const [connection, setConnection] = useState<'connecting' | 'open' | 'offline'>('connecting');
  const [attempt, setAttempt] = useState(0);
  const paused = useRef(pausedBecause);
  paused.current = pausedBecause;
  // Changes not refreshed for yet: waiting for the next refresh, or for the pause to end.
  const waiting = useRef<{ changes: Changes | null; lastMs: number; timer?: ReturnType<typeof setTimeout> }>({ changes: null, lastMs: 0 });

  /** Refreshes for what is waiting at once, then at most every `refreshIntervalMs`, never while paused. */
  const schedule = useCallback(() => {
    const w = waiting.current;
    if (w.timer !== undefined || w.changes === null || paused.current !== null) return;
    w.timer = setTimeout(
      () => {
        w.timer = undefined;
        // Paused meanwhile: even a refetch for older changes would move what the user reads.
        if (paused.current !== null || w.changes === null) return;
        const changes = w.changes;
        [w.changes, w.lastMs] = [null, Date.now()];
        refreshFor(client, experimentId, changes);
      },
      Math.max(0, w.lastMs + refreshIntervalMs - Date.now()),
    );
  }, [client, experimentId, refreshIntervalMs]);
  const hear = useCallback(
    (changes: Changes) => {
      waiting.current.changes = merged(waiting.current.changes, changes);
      schedule();
    },
    [schedule],
  );
  useEffect(() => {
    if (pausedBecause === null) schedule();
  }, [pausedBecause, schedule]);

  // A stream that was closed or broken may have missed changes: refresh once it is back.
  const gap = useRef(false);
  useEffect(() => {
    if (hidden) return;
    const source = new EventSource(eventsUrl(experimentId, sessionId));
    let retry: ReturnType<typeof setTimeout> | undefined;
    setConnection('connecting');
    source.onopen = () => {
      setConnection('open');
      if (gap.current) hear('all');
      gap.current = false;
    };
    source.addEventListener(CHANGES_EVENT, (e) => {
      try {
        hear((JSON.parse((e as MessageEvent<string>).data) as { changes: LiveChangeJson[] }).changes);
      } catch {
        hear('all');
      }
    });
    source.onerror = () => {
      gap.current = true;
      // CONNECTING: EventSource tries again by itself. CLOSED: refused; this hook tries later.
      if (source.readyState !== EventSource.CLOSED) return setConnection('connecting');
      setConnection('offline');
      retry = setTimeout(() => setAttempt((n) => n + 1), OFFLINE_RETRY_MS);
    };
    return () => {
      source.close();
      clearTimeout(retry);
      gap.current = true;
    };
  }, [experimentId, sessionId, hidden, attempt, hear]);
  // Another experiment or session (or none: unmounted): its data is loaded fresh, nothing is owed.
  useEffect(
    () => () => {
      const w = waiting.current;
      clearTimeout(w.timer);
      [w.timer, w.changes] = [undefined, null];
      gap.current = false;
    },
    [experimentId, sessionId],
  );

  if (hidden) return { status: 'paused', reason: 'the tab is hidden' };
  if (connection === 'offline') return { status: 'offline', reason: 'the server refused the live stream; trying again shortly' };
  if (connection === 'connecting') return { status: 'connecting' };
  if (pausedBecause !== null) return { status: 'paused', reason: pausedBecause };
  return { status: 'live' };
}

/** Whether the page is hidden (another tab, a minimised window). */
function usePageHidden(): boolean {
  const [hidden, setHidden] = useState(() => document.visibilityState === 'hidden');
  useEffect(() => {
    const onChange = () => setHidden(document.visibilityState === 'hidden');
    document.addEventListener('visibilitychange', onChange);
    return () => document.removeEventListener('visibilitychange', onChange);
  }, []);
  return hidden;
}

function merged(waiting: Changes | null, more: Changes): Changes {
  if (waiting === 'all' || more === 'all') return 'all';
  const all = [...(waiting ?? []), ...more];
  return all.length > MAX_WAITING_CHANGES ? 'all' : all;
}

/**
 * Refetches the queries the changes touch (refetched now if on screen, else marked stale): the
 * experiment's traces, sessions and users lists; the sessions changed (their summary and turns);
 * the batches of traces whose spans changed.
 */
function refreshFor(client: QueryClient, experimentId: string, changes: Changes): void {
  const everything = changes === 'all' || changes.some((c) => c.kind === 'experiment');
  const sessions = new Set(changes === 'all' ? [] : changes.map((c) => c.session_id));
  const traces = new Set(changes === 'all' ? [] : changes.map((c) => c.trace_id));
  void client.invalidateQueries({
    predicate: ({ queryKey: [kind, first, second] }) => {
      switch (kind) {
        case 'traces':
        case 'sessions':
        case 'users':
          return first === experimentId;
        case 'session':
        case 'session-turns':
          return first === experimentId && (everything || sessions.has(second as string));
        case 'traces-batch':
          return everything || (Array.isArray(first) && first.some((id) => traces.has(id as string)));
        default:
          return false;
      }
    },
  });
}

/** Why a list's live updates pause, and the setters its table and filters call. */
export interface ListPause {
  /** The reason to show, or null while nothing pauses them. */
  reason: string | null;
  /** The table was scrolled away from its top (new rows would move what the user reads). */
  scrolled: (away: boolean) => void;
  /** A filter field (`field`) holds text not yet applied. */
  editing: (field: string, editing: boolean) => void;
}

/**
 * The pause of a list page's live updates: while its table is scrolled down or one of its filters
 * is being edited; it ends by itself when both stop.
 *
 * @example
 * const pause = useListPause();
 * useLiveUpdates(experimentId, { pausedBecause: pause.reason });
 * <FilterBar onEditingChange={(e) => pause.editing('filter', e)} … />
 */
export function useListPause(): ListPause {
  const [away, setAway] = useState(false);
  const [fields, setFields] = useState<ReadonlySet<string>>(new Set());
  const editing = useCallback((field: string, on: boolean) => {
    setFields((current) => {
      if (current.has(field) === on) return current;
      const next = new Set(current);
      if (on) next.add(field);
      else next.delete(field);
      return next;
    });
  }, []);
  const reason = fields.size > 0 ? 'you are editing a filter' : away ? 'you scrolled down the list; back at the top it updates again' : null;
  return { reason, scrolled: setAway, editing };
}
