import type { ColumnDef } from '@tanstack/react-table';
import type { SessionJson } from '@threadline/protocol';
import { useCallback, useMemo } from 'react';
import { useParams } from 'react-router';
import { api } from '../api';
import { FeedbackCell } from '../components/AssessmentsPanel';
import { paths, SessionLink, TimeCell, UserLink } from '../components/bits';
import { Highlighted } from '../components/Highlight';
import { RollupListPage } from '../components/RollupListPage';
import { duration, num, oneLine, spend, zoneName } from '../format';
import { previewText } from '../messages';

const ORDERS: Record<string, string> = {
  'last_time DESC': 'Latest activity',
  'first_time DESC': 'Newest started',
  'turns DESC': 'Most turns',
  'errors DESC': 'Most errors',
  'total_tokens DESC': 'Most tokens',
  'duration_ms DESC': 'Longest',
  'cost DESC': 'Most expensive',
};
/** Quick filters; the feedback one finds conversations with a thumbs-down on some turn. */
const EXAMPLES = ["feedback.user_satisfaction = 'false'", 'turns >= 5', 'errors > 0', 'cost > 1', "user = 'user-123'", "tags.env = 'prod' AND trace.status = 'ERROR'"];

export function sessionColumns(exp: string, opts: { hideUsers?: boolean } = {}): ColumnDef<SessionJson, unknown>[] {
  const cols: ColumnDef<SessionJson, unknown>[] = [
    { id: 'session', size: 150, meta: { priority: 1 }, header: 'Session', cell: ({ row }) => <SessionLink exp={exp} session={row.original.session_id} /> },
    { id: 'first', size: 240, meta: { grow: true, priority: 2 }, header: 'First input', cell: ({ row }) => <span className="ellipsis"><Highlighted text={oneLine(previewText(row.original.first_request_preview, 'request'))} /></span> },
    { id: 'last', size: 220, meta: { grow: true, priority: 5 }, header: 'Last output', cell: ({ row }) => <span className="ellipsis muted-2"><Highlighted text={oneLine(previewText(row.original.last_response_preview, 'response'))} /></span> },
  ];
  if (!opts.hideUsers) {
    cols.push({
      id: 'users',
      size: 120,
      meta: { priority: 6 },
      header: 'Users',
      cell: ({ row }) => (
        <span className="ellipsis">
          <UserLink exp={exp} user={row.original.user_ids[0]} />
          {row.original.user_count > 1 && <span className="muted"> +{row.original.user_count - 1}</span>}
        </span>
      ),
    });
  }
  cols.push(
    { id: 'turns', size: 56, meta: { priority: 3 }, header: () => <span className="num">Turns</span>, cell: ({ row }) => <span className="num">{num(row.original.trace_count)}</span> },
    { id: 'feedback', size: 150, meta: { priority: 8 }, header: 'Feedback', cell: ({ row }) => <FeedbackCell feedback={row.original.feedback} /> },
    { id: 'duration', size: 76, meta: { priority: 7 }, header: () => <span className="num">Duration</span>, cell: ({ row }) => <span className="num">{duration(row.original.duration_ms)}</span> },
    { id: 'tokens', size: 70, meta: { priority: 9 }, header: () => <span className="num">Tokens</span>, cell: ({ row }) => <span className="num">{num(row.original.total_tokens)}</span> },
    { id: 'cost', size: 76, meta: { priority: 6 }, header: () => <span className="num">Cost</span>, cell: ({ row }) => <span className="num">{spend(row.original.cost)}</span> },
    {
      id: 'errors',
      size: 56,
      meta: { priority: 8 },
      header: () => <span className="num">Errors</span>,
      cell: ({ row }) => <span className={`num ${row.original.error_count > 0 ? 'text-error' : 'muted'}`}>{num(row.original.error_count)}</span>,
    },
    { id: 'firstTime', size: 150, meta: { priority: 10 }, header: `Started (${zoneName()})`, cell: ({ row }) => <TimeCell ms={row.original.first_time_ms} /> },
    { id: 'lastTime', size: 150, meta: { priority: 4 }, header: `Last activity (${zoneName()})`, cell: ({ row }) => <TimeCell ms={row.original.last_time_ms} /> },
  );
  return cols;
}

export function SessionsPage() {
  const { experimentId = '0' } = useParams();
  const columns = useMemo(() => sessionColumns(experimentId), [experimentId]);
  const pick = useCallback((p: Record<string, unknown>) => (p.sessions as SessionJson[] | undefined) ?? [], []);
  return (
    <RollupListPage
      title="Sessions"
      noun="session"
      experimentId={experimentId}
      orders={ORDERS}
      examples={EXAMPLES}
      placeholder="Words some turn mentions, or a filter: turns > 3 AND errors > 0, user = 'u-1', or any trace clause (some turn matches)"
      columns={columns}
      fetchPage={(r, signal) => api.searchSessions({ experimentId, ...r, maxResults: 100 }, signal) as never}
      pick={pick}
      rowId={(s) => s.session_id}
      pathOf={(s) => paths.session(experimentId, s.session_id)}
    />
  );
}
