import { useQuery } from '@tanstack/react-query';
import { api } from '../api';
import { num, usd } from '../format';
import { SessionLink, UserLink } from './bits';

const SHOWN = 5;

/**
 * The users and the sessions that cost the most in a range, each with their cost in that range.
 *
 * From the traces metrics grouped by user and by session, with the whole range as one bucket:
 * their costs are of the range's traces only. The sessions and users searches ordered by `cost`
 * would rank by all-time cost instead (a user of two years would top every week), and no filter
 * narrows a rollup's cost to a range. The endpoint ranks the groups by their cost in the range
 * (`order_groups_by: 'cost'`), from its hourly user and session rollups.
 */
export function TopSpenders({ experimentId, startMs, endMs, totalCost }: { experimentId: string; startMs: number; endMs: number; totalCost: number | undefined }) {
  return (
    <div className="charts" data-testid="top-spenders">
      <TopByCost experimentId={experimentId} startMs={startMs} endMs={endMs} totalCost={totalCost} groupBy="user" />
      <TopByCost experimentId={experimentId} startMs={startMs} endMs={endMs} totalCost={totalCost} groupBy="session" />
    </div>
  );
}

function TopByCost({ experimentId, startMs, endMs, totalCost, groupBy }: { experimentId: string; startMs: number; endMs: number; totalCost: number | undefined; groupBy: 'user' | 'session' }) {
  const groups = useQuery({
    queryKey: ['metrics', experimentId, startMs, endMs, endMs - startMs, groupBy, 'cost', SHOWN],
    queryFn: ({ signal }) =>
      api
        .metrics({ experiment_id: experimentId, start_time_ms: startMs, end_time_ms: endMs, bucket_ms: endMs - startMs, group_by: groupBy, max_groups: SHOWN, order_groups_by: 'cost', groups_only: true }, signal)
        .then((r) => r.groups ?? []),
  });
  const noun = groupBy === 'user' ? 'user' : 'session';
  const top = (groups.data ?? []).filter((g) => g.cost > 0);
  return (
    <div className="panel chart-panel" data-testid={`top-${noun}s-by-cost`}>
      <h3>Top {noun}s by cost</h3>
      {groups.isPending ? (
        <p className="muted small">Loading…</p>
      ) : groups.error ? (
        <p className="muted small">Could not load: {(groups.error as Error).message}</p>
      ) : top.length === 0 ? (
        <p className="muted small">No priced LLM call from any {noun} in this range.</p>
      ) : (
        <table className="plain-table">
          <thead>
            <tr>
              <th>{groupBy === 'user' ? 'User' : 'Session'}</th>
              <th className="num">Traces</th>
              <th className="num">Cost</th>
              <th className="num" title="Of the cost of all traces in this range">Share</th>
            </tr>
          </thead>
          <tbody>
            {top.map((g) => (
              <tr key={g.key} data-testid="spender-row">
                <td>{groupBy === 'user' ? <UserLink exp={experimentId} user={g.key} /> : <SessionLink exp={experimentId} session={g.key} />}</td>
                <td className="num">{num(g.traces)}</td>
                <td className="num">{usd(g.cost)}</td>
                <td className="num">{totalCost ? `${Math.round((g.cost / totalCost) * 100)}%` : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
