import type { ColumnDef } from '@tanstack/react-table';
import type { UserJson } from '@threadline/protocol';
import { useCallback, useMemo } from 'react';
import { useParams } from 'react-router';
import { api } from '../api';
import { FeedbackCell } from '../components/AssessmentsPanel';
import { paths, TimeCell, UserLink } from '../components/bits';
import { RollupListPage } from '../components/RollupListPage';
import { num, spend, zoneName } from '../format';

const ORDERS: Record<string, string> = {
  'last_time DESC': 'Last seen',
  'first_time DESC': 'Newest',
  'traces DESC': 'Most traces',
  'sessions DESC': 'Most sessions',
  'total_tokens DESC': 'Most tokens',
  'errors DESC': 'Most errors',
  'cost DESC': 'Most expensive',
};
const EXAMPLES = ["feedback.user_satisfaction = 'false'", 'sessions >= 3', 'errors > 0', 'cost > 1', "user_id LIKE 'team-%'", 'total_tokens > 10000'];

export function UsersPage() {
  const { experimentId = '0' } = useParams();
  const pick = useCallback((p: Record<string, unknown>) => (p.users as UserJson[] | undefined) ?? [], []);
  const columns = useMemo<ColumnDef<UserJson, unknown>[]>(
    () => [
      // A link, so that it opens in a new tab like any other (a click on the row's other cells opens it here).
      { id: 'user', size: 200, meta: { grow: true, priority: 1 }, header: 'User', cell: ({ row }) => <UserLink exp={experimentId} user={row.original.user_id} /> },
      { id: 'sessions', size: 80, meta: { priority: 4 }, header: () => <span className="num">Sessions</span>, cell: ({ row }) => <span className="num">{num(row.original.session_count)}</span> },
      { id: 'traces', size: 80, meta: { priority: 2 }, header: () => <span className="num">Traces</span>, cell: ({ row }) => <span className="num">{num(row.original.trace_count)}</span> },
      { id: 'tokens', size: 90, meta: { priority: 6 }, header: () => <span className="num">Tokens</span>, cell: ({ row }) => <span className="num">{num(row.original.total_tokens)}</span> },
      { id: 'cost', size: 80, meta: { priority: 4 }, header: () => <span className="num">Cost</span>, cell: ({ row }) => <span className="num">{spend(row.original.cost)}</span> },
      { id: 'feedback', size: 160, meta: { priority: 5 }, header: 'Feedback', cell: ({ row }) => <FeedbackCell feedback={row.original.feedback} /> },
      {
        id: 'errors',
        size: 90,
        meta: { priority: 5 },
        header: () => <span className="num">Errors</span>,
        cell: ({ row }) => {
          const u = row.original;
          return (
            <span className={`num ${u.error_count > 0 ? 'text-error' : 'muted'}`}>
              {num(u.error_count)}
              {u.trace_count > 0 && u.error_count > 0 ? ` · ${Math.round((u.error_count / u.trace_count) * 100)}%` : ''}
            </span>
          );
        },
      },
      // Both absolute, as in every other list; how long ago is in the tooltip.
      { id: 'first', size: 150, meta: { priority: 7 }, header: `First seen (${zoneName()})`, cell: ({ row }) => <TimeCell ms={row.original.first_time_ms} /> },
      { id: 'last', size: 150, meta: { priority: 3 }, header: `Last seen (${zoneName()})`, cell: ({ row }) => <TimeCell ms={row.original.last_time_ms} /> },
    ],
    [experimentId],
  );
  return (
    <RollupListPage
      title="Users"
      noun="user"
      experimentId={experimentId}
      orders={ORDERS}
      examples={EXAMPLES}
      placeholder="Words some trace mentions, or a filter: sessions > 2 AND errors > 0, user_id LIKE 'acme-%', or any trace clause"
      columns={columns}
      fetchPage={(r, signal) => api.searchUsers({ experimentId, ...r, maxResults: 100 }, signal) as never}
      pick={pick}
      rowId={(u) => u.user_id}
      pathOf={(u) => paths.user(experimentId, u.user_id)}
    />
  );
}
