import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import type { TraceInfoJson } from '@threadline/protocol';
import { useEffect, useRef } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { api } from '../api';
import { TurnFeedback } from '../components/AssessmentsPanel';
import { ChatBubble } from '../components/Chat';
import { ErrorNote, paths, Stat, StateBadge, TimeCell, UserLink } from '../components/bits';
import { ErasedNotice, EraseAction } from '../components/EraseAction';
import { HighlightUrlWords, useCarryWords } from '../components/Highlight';
import { LiveBadge } from '../components/LiveBadge';
import { quote } from '../filters';
import { costParts, duration, durationMs, num, requestTimeMs, spend, timeRange, tokensOf, traceCostOf, usd, userOf } from '../format';
import { useLiveUpdates } from '../live';
import { rootSpan, turnOf } from '../messages';

const TURNS_PER_PAGE = 50;
/** Shortest time between two refreshes of a watched session (its turns arrive info first, spans after). */
const SESSION_REFRESH_MS = 250;

/**
 * A session read as the conversation it was: every turn in order (paged, 50 at a time, loaded as
 * the page scrolls: no silent cap), each the user's message and the assistant's reply with its
 * tool steps folded, its latency, tokens, cost and a link into its trace. New turns appear as they
 * are logged (live.ts): a conversation is read to its end, so scrolling does not pause it. The
 * words of the word search that found it (`?words=`) are marked in its turns.
 */
export function SessionPage() {
  return (
    <HighlightUrlWords>
      <SessionView />
    </HighlightUrlWords>
  );
}

function SessionView() {
  const { experimentId = '0', sessionId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const summary = useQuery({
    queryKey: ['session', experimentId, sessionId],
    queryFn: ({ signal }) => api.searchSessions({ experimentId, filter: `session_id = ${quote(sessionId)}`, maxResults: 1 }, signal).then((r) => r.sessions[0] ?? null),
  });
  const turns = useInfiniteQuery({
    queryKey: ['session-turns', experimentId, sessionId],
    queryFn: ({ pageParam, signal }) => api.sessionTraces(experimentId, sessionId, pageParam || undefined, TURNS_PER_PAGE, signal),
    initialPageParam: '',
    getNextPageParam: (last) => last.next_page_token || undefined,
  });
  const pages = turns.data?.pages ?? [];
  const s = summary.data;
  // One session's turns are a small read: refreshed often enough that each turn shows well within a second.
  const live = useLiveUpdates(experimentId, { sessionId, refreshIntervalMs: SESSION_REFRESH_MS });
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = end.current;
    if (!el) return;
    // Load the next turns a screen before the end comes into view.
    const io = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting) && turns.hasNextPage && !turns.isFetchingNextPage) void turns.fetchNextPage();
      },
      { rootMargin: '0px 0px 800px 0px' },
    );
    io.observe(el);
    return () => io.disconnect();
  }, [turns.hasNextPage, turns.isFetchingNextPage, turns.fetchNextPage]); // eslint-disable-line react-hooks/exhaustive-deps
  const loaded = pages.reduce((n, p) => n + (p.traces?.length ?? 0), 0);
  // Set once this page erased the session: the receipt's id, for the notice to show it.
  const erasedId = params.get('erased') ?? undefined;
  const gone = erasedId !== undefined && summary.isSuccess && !s;

  return (
    <div className="page session-page">
      <div className="breadcrumbs">
        <Link to={`/experiments/${encodeURIComponent(experimentId)}/sessions`}>Sessions</Link> / <span className="mono">{sessionId}</span>
      </div>
      <div className="page-head">
        <h1>
          Session <span className="mono">{sessionId}</span>
        </h1>
        <LiveBadge view={live} />
        <Link className="button ghost" to={paths.traces(experimentId, { session: sessionId, sort: 'oldest' })}>
          Open as traces
        </Link>
        {!gone && (
          <EraseAction
            subject={{ kind: 'session', id: sessionId, ...(s ? { traceCount: s.trace_count, userIds: s.user_ids } : {}) }}
            experimentId={experimentId}
            onErased={(receipt) => setParams({ erased: receipt.erasure_id }, { replace: true })}
          />
        )}
      </div>
      {erasedId !== undefined && <ErasedNotice kind="session" id={sessionId} erasureId={erasedId} experimentId={experimentId} present={!!s} />}
      {/* Once erased, the session's turns answer 404 while the turns already loaded are kept: neither is shown. */}
      <ErrorNote error={gone ? null : (summary.error ?? turns.error)} />
      {s && (
        <div className="stats">
          <Stat label="Turns" value={num(s.trace_count)} />
          <Stat
            label={s.user_count === 1 ? 'User' : `Users (${s.user_count})`}
            value={
              <span className="user-list">
                {s.user_ids.map((u) => (
                  <UserLink key={u} exp={experimentId} user={u} />
                ))}
              </span>
            }
          />
          <Stat label="Duration" value={duration(s.duration_ms)} sub={timeRange(s.first_time_ms, s.last_time_ms)} />
          <Stat label="Tokens" value={num(s.total_tokens)} sub={`${num(s.input_tokens)} in · ${num(s.output_tokens)} out`} />
          <Stat label="Cost" value={spend(s.cost)} sub={s.cost > 0 ? `${usd(s.cost / s.trace_count)} per turn` : 'no priced LLM call'} />
          <Stat label="Errors" value={<span className={s.error_count ? 'text-error' : ''}>{num(s.error_count)}</span>} />
        </div>
      )}
      {!gone && (
        <div className="conversation" data-testid="conversation">
          {pages.map((page, i) => (
            <TurnPage key={i} experimentId={experimentId} traces={page.traces ?? []} firstIndex={pages.slice(0, i).reduce((n, p) => n + (p.traces?.length ?? 0), 0)} />
          ))}
        </div>
      )}
      <div ref={end} className="turns-end" hidden={gone}>
        {turns.isLoading
          ? 'Loading turns…'
          : turns.hasNextPage
            ? (
              <button className="ghost" onClick={() => void turns.fetchNextPage()} disabled={turns.isFetchingNextPage}>
                {turns.isFetchingNextPage ? 'Loading…' : `Load more turns (${num(loaded)} of ${num(s?.trace_count ?? null)} shown)`}
              </button>
            )
            : `${num(loaded)} turn${loaded === 1 ? '' : 's'}, all shown`}
      </div>
    </div>
  );
}

/** One page of turns; their spans come in one batch request, previews show until they arrive. */
function TurnPage({ experimentId, traces, firstIndex }: { experimentId: string; traces: TraceInfoJson[]; firstIndex: number }) {
  const ids = traces.map((t) => t.trace_id);
  const full = useQuery({ queryKey: ['traces-batch', ids], queryFn: ({ signal }) => api.traces(ids, signal), enabled: ids.length > 0, staleTime: 60_000 });
  const spansById = new Map((full.data ?? []).map((t) => [t.trace_info.trace_id, t.spans]));
  const carryWords = useCarryWords();
  return (
    <>
      {traces.map((info, i) => {
        const spans = spansById.get(info.trace_id);
        const root = spans ? rootSpan(spans) : undefined;
        const turn = turnOf(root, info.request_preview, info.response_preview);
        const failure = info.state === 'ERROR' ? (root?.status?.message || 'the turn failed') : null;
        const tokens = tokensOf(info);
        const cost = traceCostOf(info);
        return (
          <section key={info.trace_id} className={`turn ${info.state === 'ERROR' ? 'turn-error' : ''}`} data-testid="turn" aria-label={`Turn ${firstIndex + i + 1}`}>
            <header className="turn-head">
              <span className="turn-no">Turn {firstIndex + i + 1}</span>
              <span className="muted">
                <TimeCell ms={requestTimeMs(info)} />
              </span>
              <span className="muted">· {duration(durationMs(info.execution_duration))}</span>
              {tokens && <span className="muted">· {num(tokens.total)} tokens</span>}
              {cost && (
                <span className="muted" title={costParts(cost)} data-testid="turn-cost">
                  · {usd(cost.total)}
                </span>
              )}
              <StateBadge state={info.state} />
              <span className="turn-user">
                <UserLink exp={experimentId} user={userOf(info)} />
              </span>
              <Link className="turn-link" to={carryWords(paths.trace(experimentId, info.trace_id))}>
                Open trace →
              </Link>
            </header>
            {turn.user !== null && <ChatBubble message={{ role: 'user', content: turn.user }} />}
            {turn.steps.length > 0 && (
              <details className="steps">
                <summary>
                  {turn.steps.length} tool step{turn.steps.length === 1 ? '' : 's'}
                </summary>
                {turn.steps.map((m, j) => (
                  <ChatBubble key={j} message={m} />
                ))}
              </details>
            )}
            {turn.assistant !== null ? (
              <ChatBubble message={{ role: 'assistant', content: turn.assistant }} />
            ) : (
              <div className={`no-reply ${failure ? 'text-error' : 'muted'}`}>{failure ? `No reply: ${failure}` : 'No reply recorded.'}</div>
            )}
            <TurnFeedback traceId={info.trace_id} assessments={info.assessments ?? []} />
          </section>
        );
      })}
    </>
  );
}
