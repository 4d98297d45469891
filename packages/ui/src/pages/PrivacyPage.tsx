import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api } from '../api';
import { ErrorNote, paths, TimeCell } from '../components/bits';
import { ErasureReceipt, erasureTraceCount, ErasureState, kindLabel, useErasure } from '../components/ErasureReceipt';
import { RetentionPanel } from '../components/RetentionPanel';
import { num, zoneName } from '../format';

/** Receipts listed at most; the server keeps them all, and each stays reachable by its id. */
const MAX_RECEIPTS = 200;

/**
 * `/experiments/{id}/privacy`: how long the experiment keeps its traces, and the receipts of the
 * users and sessions erased from it, newest first, each with how much went and a link to the whole.
 */
export function PrivacyPage() {
  const { experimentId = '0' } = useParams();
  const erasures = useQuery({ queryKey: ['erasures', experimentId], queryFn: ({ signal }) => api.erasures(experimentId, MAX_RECEIPTS, signal) });
  const list = erasures.data ?? [];
  return (
    <div className="page page-narrow">
      <div className="page-head">
        <h1>Privacy</h1>
      </div>
      <section aria-labelledby="retention-title" className="privacy-section">
        <h2 id="retention-title">Retention</h2>
        <RetentionPanel experimentId={experimentId} />
      </section>
      <section aria-labelledby="erasures-title" className="privacy-section">
        <div className="page-head">
          <h2 id="erasures-title">Erasures</h2>
          <span className="muted">{erasures.data ? `${num(list.length)}${list.length === MAX_RECEIPTS ? ' newest' : ''} receipt${list.length === 1 ? '' : 's'}` : ''}</span>
        </div>
        <p className="muted intro">
          Users and sessions erased from this experiment, with what went. To erase one, open its page under Users or Sessions: Erase… is at the top. A receipt keeps none
          of the erased data, not even the id: only its digest.
        </p>
        <ErrorNote error={erasures.error} />
        <table className="plain-table" data-testid="erasures">
          <thead>
            <tr>
              <th>Requested ({zoneName()})</th>
              <th>Erased</th>
              <th className="num">Traces</th>
              <th className="num">Experiments</th>
              <th>Requested by</th>
              <th>State</th>
              <th>Receipt</th>
            </tr>
          </thead>
          <tbody>
            {list.map((e) => (
              <tr key={e.erasure_id} data-testid="erasure-row">
                <td className="nowrap">
                  <TimeCell ms={e.requested_time_ms} />
                </td>
                <td>
                  {kindLabel(e)}{' '}
                  <code className="muted" title={`Subject digest: ${e.subject_digest}`}>
                    {e.subject_digest.slice(0, 12)}…
                  </code>
                </td>
                <td className="num">{num(erasureTraceCount(e))}</td>
                <td className="num">{num(e.experiment_ids.length)}</td>
                <td>{e.requested_by}</td>
                <td>
                  <ErasureState erasure={e} />
                </td>
                <td>
                  <Link className="idlink" to={paths.erasure(experimentId, e.erasure_id)}>
                    {e.erasure_id}
                  </Link>
                </td>
              </tr>
            ))}
            {erasures.isSuccess && list.length === 0 && (
              <tr>
                <td colSpan={7} className="muted">
                  Nothing has been erased from this experiment.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </section>
    </div>
  );
}

/** `/experiments/{id}/privacy/erasures/{erasure id}`: one receipt in full, followed while its erase runs. */
export function ErasurePage() {
  const { experimentId = '0', erasureId = '' } = useParams();
  const erasure = useErasure(erasureId);
  return (
    <div className="page page-narrow">
      <div className="breadcrumbs">
        <Link to={`/experiments/${encodeURIComponent(experimentId)}/privacy`}>Privacy</Link> / Erasures / <span className="mono">{erasureId}</span>
      </div>
      <div className="page-head">
        <h1>Erasure receipt</h1>
      </div>
      <ErrorNote error={erasure.error} />
      {erasure.isPending && <p className="muted">Loading the receipt…</p>}
      {erasure.data && (
        <div className="panel receipt-panel">
          <ErasureReceipt erasure={erasure.data} />
        </div>
      )}
    </div>
  );
}
