import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api } from '../api';
import { ErrorNote, paths, Stat } from '../components/bits';
import { MetricsCharts } from '../components/MetricsCharts';
import { TIME_RANGES } from '../filters';
import { compact, duration, num, timeRange } from '../format';
import { useUrlState, withParams } from '../url-state';

const RANGES = ['1h', '24h', '7d', '30d'] as const;
const BUCKETS: Record<string, number> = { '1h': 60_000, '24h': 30 * 60_000, '7d': 3 * 3_600_000, '30d': 12 * 3_600_000 };

/** URL parameters: range (1h, 24h, 7d, 30d) or from & to (ms), group (user, session). */
export function OverviewPage() {
  const { experimentId = '0' } = useParams();
  const { params, set, setParams } = useUrlState();
  const range = RANGES.find((r) => r === params.get('range')) ?? '7d';
  const group = params.get('group') === 'user' || params.get('group') === 'session' ? (params.get('group') as 'user' | 'session') : undefined;
  // An explicit window (?from=&to=, ms since the epoch) beats the relative range: links to a past incident stay put.
  const from = Number(params.get('from'));
  const to = Number(params.get('to'));
  const fixed = from > 0 && to > from;
  const bucket = fixed ? Math.max(60_000, Math.ceil((to - from) / 60 / 60_000) * 60_000) : BUCKETS[range]!;
  const end = fixed ? to : Math.ceil(Date.now() / bucket) * bucket;
  const start = fixed ? from : end - (TIME_RANGES[range]!.ms ?? 0);
  const metrics = useQuery({
    queryKey: ['metrics', experimentId, start, end, bucket, group],
    queryFn: ({ signal }) => api.metrics({ experiment_id: experimentId, start_time_ms: start, end_time_ms: end, bucket_ms: bucket, ...(group ? { group_by: group, max_groups: 8 } : {}) }, signal),
  });
  const loading = metrics.isPending;
  // Without an answer (a failed request) there is no count to show, not a count of 0.
  const known = (text: string) => (metrics.data ? text : '–');
  const b = metrics.data?.buckets ?? [];
  const traces = b.reduce((n, x) => n + x.traces, 0);
  const errors = b.reduce((n, x) => n + x.errors, 0);
  const tokens = b.reduce((n, x) => n + x.total_tokens, 0);
  const p95s = b.map((x) => x.latency_p95_ms).filter((v): v is number => v !== null);
  const p50s = b.map((x) => x.latency_p50_ms).filter((v): v is number => v !== null);
  const median = (xs: number[]) => (xs.length ? [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]! : null);

  return (
    <div className="page">
      <div className="page-head">
        <h1>Overview</h1>
        <div className="segmented" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button key={r} className={!fixed && r === range ? 'active' : ''} onClick={() => setParams(withParams(params, { range: r === '7d' ? null : r, from: null, to: null }))}>
              {r}
            </button>
          ))}
        </div>
        <div className="segmented" role="group" aria-label="Group by">
          {[
            ['', 'All'],
            ['user', 'By user'],
            ['session', 'By session'],
          ].map(([g, label]) => (
            <button key={g} className={(group ?? '') === g ? 'active' : ''} onClick={() => set('group', g || null)}>
              {label}
            </button>
          ))}
        </div>
      </div>
      <ErrorNote error={metrics.error} />
      <div className="stats" aria-busy={loading || undefined}>
        <Stat label="Traces" loading={loading} value={known(num(traces))} sub={fixed ? timeRange(start, end) : TIME_RANGES[range]!.label} />
        <Stat label="Errors" loading={loading} value={<span className={errors ? 'text-error' : ''}>{known(num(errors))}</span>} sub={traces ? `${((errors / traces) * 100).toFixed(1)}% of traces` : undefined} />
        <Stat label="Latency p50" loading={loading} value={duration(median(p50s))} sub="median of buckets" />
        <Stat label="Latency p95" loading={loading} value={duration(median(p95s))} sub="median of buckets" />
        <Stat label="Tokens" loading={loading} value={known(compact(tokens))} />
      </div>
      {metrics.data && <MetricsCharts data={metrics.data} />}
      {metrics.data?.groups && metrics.data.groups.length > 0 && (
        <div className="panel">
          <table className="plain-table">
            <thead>
              <tr>
                <th>{group === 'user' ? 'User' : 'Session'}</th>
                <th className="num">Traces</th>
                <th className="num">Errors</th>
                <th className="num">Tokens</th>
              </tr>
            </thead>
            <tbody>
              {metrics.data.groups.map((g) => (
                <tr key={g.key}>
                  <td>
                    <Link className="mono" to={group === 'user' ? paths.user(experimentId, g.key) : paths.session(experimentId, g.key)}>
                      {g.key}
                    </Link>
                  </td>
                  <td className="num">{num(g.traces)}</td>
                  <td className={`num ${g.errors ? 'text-error' : ''}`}>{num(g.errors)}</td>
                  <td className="num">{num(g.total_tokens)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
