import { useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { Link } from 'react-router';
import type { ErasureJson } from '@threadline/protocol';
import { api } from '../api';
import { dateTime, duration, num } from '../format';
import { experimentsQuery } from '../queries';

/** How often a running erase's receipt is asked for again. */
const POLL_MS = 1000;

export const erasureKey = (erasureId: string | undefined) => ['erasure', erasureId] as const;

/**
 * After an erase completes, every answer the page holds may show what it erased (lists, rollups,
 * charts, traces): all are asked again. Not who is signed in, nor the receipts themselves.
 */
export function refreshAfterErase(client: QueryClient): void {
  void client.invalidateQueries({ predicate: (query) => query.queryKey[0] !== 'me' && query.queryKey[0] !== erasureKey(undefined)[0] });
}

/**
 * A receipt, asked again every second while its erase runs (the erase answered 202, or another
 * process resumes it); when it completes, the page's data is refreshed once.
 */
export function useErasure(erasureId: string | undefined) {
  const client = useQueryClient();
  return useQuery({
    queryKey: erasureKey(erasureId),
    queryFn: async ({ signal }) => {
      const receipt = await api.erasure(erasureId!, signal);
      if (receipt.state === 'complete' && client.getQueryData<ErasureJson>(erasureKey(erasureId))?.state === 'running') refreshAfterErase(client);
      return receipt;
    },
    enabled: erasureId !== undefined,
    refetchInterval: (query) => (query.state.data?.state === 'running' ? POLL_MS : false),
  });
}

/** What each count of a receipt counts, in the order shown; a count the server adds later shows under its own name. */
const COUNTS: readonly (readonly [key: string, label: string, always: boolean])[] = [
  ['traces', 'Traces', true],
  ['spans', 'Spans', true],
  ['trace_metadata', 'Trace metadata entries', true],
  ['trace_tags', 'Trace tags', true],
  ['assessments', 'Assessments on those traces', true],
  ['llm_calls', 'LLM calls', true],
  ['assessments_given', 'Feedback the user gave elsewhere', false],
  ['session_assessments', 'Assessments of sessions left empty', false],
];

export const erasureTraceCount = (e: ErasureJson): number => e.counts.traces ?? 0;
export const kindLabel = (e: ErasureJson): string => (e.kind === 'user' ? 'User' : 'Session');

/** Complete, or still running with how far it got. */
export function ErasureState({ erasure: e }: { erasure: ErasureJson }) {
  if (e.state === 'complete') return <span className="badge state-ok">Complete</span>;
  return (
    <span className="badge state-in_progress" role="status">
      Running: {num(erasureTraceCount(e))} traces so far
    </span>
  );
}

/**
 * A receipt in full: what was erased (counts per kind), where, when and by whom, and the digests
 * that let whoever holds the subject's id and its trace ids check it, although it holds neither.
 */
export function ErasureReceipt({ erasure: e }: { erasure: ErasureJson }) {
  const experiments = useQuery(experimentsQuery);
  const nameOf = (id: string) => experiments.data?.find((x) => x.experiment_id === id)?.name;
  const counts = [
    ...COUNTS.filter(([key, , always]) => always || e.counts[key] !== undefined).map(([key, label]) => [key, label] as const),
    ...Object.keys(e.counts)
      .filter((key) => !COUNTS.some(([known]) => known === key))
      .map((key) => [key, key] as const),
  ];
  return (
    <div className="receipt" data-testid="erasure-receipt">
      <table className="kv">
        <tbody>
          <tr>
            <th>Receipt</th>
            <td className="mono" data-testid="receipt-id">
              {e.erasure_id}
            </td>
          </tr>
          <tr>
            <th>State</th>
            <td data-testid="receipt-state">
              <ErasureState erasure={e} />
            </td>
          </tr>
          <tr>
            <th>Erased</th>
            <td>
              A {e.kind}'s traces in {e.experiment_ids.length === 1 ? 'experiment ' : `${e.experiment_ids.length} experiments: `}
              {e.experiment_ids.map((id, i) => (
                <span key={id}>
                  {i > 0 && ', '}
                  <Link to={`/experiments/${encodeURIComponent(id)}/traces`}>{nameOf(id) ?? id}</Link>
                  {nameOf(id) !== undefined && <span className="muted"> ({id})</span>}
                </span>
              ))}
            </td>
          </tr>
          <tr>
            <th>Requested by</th>
            <td>{e.requested_by}</td>
          </tr>
          <tr>
            <th>Requested</th>
            <td>{dateTime(e.requested_time_ms)}</td>
          </tr>
          <tr>
            <th>Completed</th>
            <td>{e.completed_time_ms === null ? <span className="muted">not yet</span> : `${dateTime(e.completed_time_ms)} (took ${duration(e.completed_time_ms - e.requested_time_ms)})`}</td>
          </tr>
          <tr>
            <th>Subject digest</th>
            <td>
              <code className="digest">{e.subject_digest}</code>
              <div className="muted small">
                SHA-256 of <code>{e.kind}:</code> and the {e.kind} id: <code>{`printf '${e.kind}:%s' 'ID' | sha256sum`}</code> tells whether it is about a given {e.kind}.
              </div>
            </td>
          </tr>
          <tr>
            <th>Trace ids digest</th>
            <td>
              <code className="digest">{e.trace_ids_digest}</code>
              <div className="muted small">A hash chain over the erased trace ids, oldest first: d = SHA-256(d + trace id), from 64 zeros.</div>
            </td>
          </tr>
        </tbody>
      </table>
      <h3>Deleted</h3>
      <table className="plain-table receipt-counts" data-testid="receipt-counts">
        <tbody>
          {counts.map(([key, label]) => (
            <tr key={key} data-count={key}>
              <td>{label}</td>
              <td className="num">{num(e.counts[key] ?? 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
