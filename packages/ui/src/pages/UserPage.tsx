import { useQuery } from '@tanstack/react-query';
import type { SessionJson } from '@threadline/protocol';
import { useCallback, useMemo } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { api } from '../api';
import { ErrorNote, paths, Stat } from '../components/bits';
import { ErasedNotice, EraseAction } from '../components/EraseAction';
import { HighlightUrlWords, useCarryWords } from '../components/Highlight';
import { MetricsCharts } from '../components/MetricsCharts';
import { RollupTable } from '../components/RollupTable';
import { SORTS, TracesTable } from '../components/TracesTable';
import { quote, USER_KEY } from '../filters';
import { dateTime, num, spend, usd } from '../format';
import { withParams } from '../url-state';
import { sessionColumns } from './SessionsPage';

const MINUTE = 60_000;
/** Bucket widths to choose from, each a whole number of the one before's unit. */
const BUCKET_STEPS = [1, 5, 15, 60, 3 * 60, 6 * 60, 12 * 60, 24 * 60, 7 * 24 * 60].map((m) => m * MINUTE);

/**
 * The window the activity chart shows: the user's first to last trace (at least an hour), with
 * the narrowest bucket that keeps it to about 60 buckets, centred so that a short life (three
 * traces in two minutes) sits in the middle of its own hour rather than in one bucket of its own.
 */
export function activityWindow(firstMs: number, lastMs: number): { start: number; end: number; bucket: number } {
  // A tenth more than the life itself, so that its first and last traces stand off the edges.
  const span = Math.max((lastMs - firstMs) * 1.1, 60 * MINUTE);
  const bucket = BUCKET_STEPS.find((b) => span / b <= 60) ?? BUCKET_STEPS[BUCKET_STEPS.length - 1]!;
  const start = Math.floor(((firstMs + lastMs) / 2 - span / 2) / bucket) * bucket;
  const end = Math.max(start + Math.ceil(span / bucket) * bucket, (Math.floor(lastMs / bucket) + 1) * bucket);
  return { start, end, bucket };
}

/**
 * A user: rollup, activity and spend over time (from first to last seen), sessions and traces.
 * URL: ?tab=sessions|traces, and `words` from a word search, marked in the previews.
 */
export function UserPage() {
  return (
    <HighlightUrlWords>
      <UserView />
    </HighlightUrlWords>
  );
}

function UserView() {
  const { experimentId = '0', userId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const carryWords = useCarryWords();
  const tab = params.get('tab') === 'traces' ? 'traces' : 'sessions';
  const user = useQuery({
    queryKey: ['user', experimentId, userId],
    queryFn: ({ signal }) => api.searchUsers({ experimentId, filter: `user_id = ${quote(userId)}`, maxResults: 1 }, signal).then((r) => r.users[0] ?? null),
  });
  const u = user.data;
  // Activity over the user's whole life.
  const { start, end, bucket } = u ? activityWindow(u.first_time_ms, u.last_time_ms) : { start: 0, end: 0, bucket: 0 };
  const activity = useQuery({
    queryKey: ['metrics', experimentId, 'user', userId, start, end, bucket],
    queryFn: ({ signal }) => api.metrics({ experiment_id: experimentId, start_time_ms: start, end_time_ms: end, bucket_ms: bucket, user_id: userId }, signal),
    enabled: !!u,
  });
  const columns = useMemo(() => sessionColumns(experimentId, { hideUsers: true }), [experimentId]);
  const pick = useCallback((p: Record<string, unknown>) => (p.sessions as SessionJson[] | undefined) ?? [], []);
  const traceFilter = `${USER_KEY} = ${quote(userId)}`;
  // Set once this page erased the user: the receipt's id, for the notice to show it.
  const erasedId = params.get('erased') ?? undefined;
  const gone = erasedId !== undefined && user.isSuccess && !u;

  return (
    <div className="page">
      <div className="breadcrumbs">
        <Link to={`/experiments/${encodeURIComponent(experimentId)}/users`}>Users</Link> / <span className="mono">{userId}</span>
      </div>
      <div className="page-head">
        <h1>
          User <span className="mono">{userId}</span>
        </h1>
        {!gone && (
          <EraseAction
            subject={{ kind: 'user', id: userId, ...(u ? { traceCount: u.trace_count, sessionCount: u.session_count } : {}) }}
            experimentId={experimentId}
            onErased={(receipt) => setParams({ erased: receipt.erasure_id }, { replace: true })}
          />
        )}
      </div>
      {erasedId !== undefined && <ErasedNotice kind="user" id={userId} erasureId={erasedId} experimentId={experimentId} present={!!u} />}
      {/* The tables show their own errors where their rows would be. */}
      <ErrorNote error={user.error ?? activity.error} />
      {user.isSuccess && !u && erasedId === undefined && <div className="error-note">No traces from this user in this experiment.</div>}
      {!gone && (
        <>
          {u && (
            <div className="stats">
              <Stat label="Sessions" value={num(u.session_count)} />
              <Stat label="Traces" value={num(u.trace_count)} />
              <Stat label="Errors" value={<span className={u.error_count ? 'text-error' : ''}>{num(u.error_count)}</span>} sub={u.trace_count ? `${((u.error_count / u.trace_count) * 100).toFixed(1)}%` : undefined} />
              <Stat label="Tokens" value={num(u.total_tokens)} sub={`${num(u.input_tokens)} in · ${num(u.output_tokens)} out`} />
              <Stat label="Cost" value={spend(u.cost)} sub={u.cost > 0 ? `${usd(u.cost / u.trace_count)} per trace` : 'no priced LLM call'} />
              <Stat label="First seen" value={dateTime(u.first_time_ms)} />
              <Stat label="Last seen" value={dateTime(u.last_time_ms)} />
            </div>
          )}
          {activity.data && <MetricsCharts data={activity.data} only={['traces', 'tokens', 'cost']} />}
          <div className="subtabs" role="tablist">
            {(['sessions', 'traces'] as const).map((t) => (
              <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? 'subtab active' : 'subtab'} onClick={() => setParams(withParams(params, { tab: t === 'sessions' ? null : t }), { replace: true })}>
                {t === 'sessions' ? `Sessions (${num(u?.session_count ?? null)})` : `Traces (${num(u?.trace_count ?? null)})`}
              </button>
            ))}
          </div>
          {tab === 'sessions' ? (
            <RollupTable
              testId="user-sessions"
              noun="session"
              queryKey={['sessions', experimentId, `user=${userId}`]}
              fetchPage={(pageToken, signal) => api.searchSessions({ experimentId, filter: `user = ${quote(userId)}`, maxResults: 100, ...(pageToken ? { pageToken } : {}) }, signal) as never}
              pick={pick}
              columns={columns}
              rowId={(s) => s.session_id}
              onOpen={(s) => navigate(carryWords(paths.session(experimentId, s.session_id)))}
              height="60vh"
            />
          ) : (
            <TracesTable experimentId={experimentId} filter={traceFilter} sort={Object.keys(SORTS)[0]!} height="60vh" hideUser />
          )}
        </>
      )}
    </div>
  );
}
