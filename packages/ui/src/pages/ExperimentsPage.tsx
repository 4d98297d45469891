import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api } from '../api';
import { dateTime } from '../format';
import { ErrorNote } from '../components/bits';
import { retentionLabel, retentionOf } from '../components/RetentionPanel';
import { useMe } from '../session';

export function ExperimentsPage() {
  const experiments = useQuery({ queryKey: ['experiments'], queryFn: ({ signal }) => api.experiments(signal) });
  // With accounts, the list holds only what one may read: an empty one needs saying why.
  const authOn = useMe().data?.auth_enabled === true;
  return (
    <div className="page">
      <div className="page-head">
        <h1>Experiments</h1>
        <span className="muted">{experiments.data ? `${experiments.data.length} experiments` : ''}</span>
      </div>
      <ErrorNote error={experiments.error} />
      <table className="plain-table" data-testid="experiments">
        <thead>
          <tr>
            <th>Name</th>
            <th>ID</th>
            <th>Created</th>
            <th>Updated</th>
            <th>Retention</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(experiments.data ?? []).map((e) => (
            <tr key={e.experiment_id}>
              <td>
                <Link to={`/experiments/${encodeURIComponent(e.experiment_id)}/traces`}>{e.name}</Link>
              </td>
              <td className="mono">{e.experiment_id}</td>
              <td>{dateTime(Number(e.creation_time))}</td>
              <td>{dateTime(Number(e.last_update_time))}</td>
              <td>
                <Link to={`/experiments/${encodeURIComponent(e.experiment_id)}/privacy`} data-testid="retention-cell">
                  {retentionLabel(retentionOf(e))}
                </Link>
              </td>
              <td className="row-links">
                <Link to={`/experiments/${encodeURIComponent(e.experiment_id)}/overview`}>Overview</Link>
                <Link to={`/experiments/${encodeURIComponent(e.experiment_id)}/sessions`}>Sessions</Link>
                <Link to={`/experiments/${encodeURIComponent(e.experiment_id)}/users`}>Users</Link>
              </td>
            </tr>
          ))}
          {authOn && experiments.data?.length === 0 && (
            <tr>
              <td colSpan={6} className="muted">
                No experiment you may read yet. Someone who manages one, or an admin, can give you access.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
