import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api } from '../api';
import { ErrorNote, paths, Stat } from '../components/bits';
import { FeedbackChart, positiveShare } from '../components/FeedbackChart';
import { MetricsCharts } from '../components/MetricsCharts';
import { ModelCosts } from '../components/ModelCosts';
import { TopSpenders } from '../components/TopSpenders';
import { TIME_RANGES } from '../filters';
import { compact, duration, num, requestTimeMs, spend, timeRange, usd } from '../format';
import { useUrlState, withParams } from '../url-state';

const RANGES = ['1h', '24h', '7d', '30d'] as const;
type Range = (typeof RANGES)[number];
const HOUR_MS = 3_600_000;
const BUCKETS: Record<Range, number> = { '1h': 60_000, '24h': 30 * 60_000, '7d': 3 * HOUR_MS, '30d': 12 * HOUR_MS };
const rangeMs = (r: Range): number => TIME_RANGES[r]!.ms!;

/**
 * The range to open on when none is asked for: the shortest that holds the experiment's earliest
 * trace of the last 30 days with a tenth to spare (one search, oldest first, one trace), so that
 * a first hour of data is not drawn as one spike at the end of a week. A week when there is none.
 */
function useFittingRange(experimentId: string, enabled: boolean): Range | undefined {
  const fit = useQuery({
    queryKey: ['overview-range', experimentId],
    queryFn: async ({ signal }): Promise<Range> => {
      const now = Date.now();
      const since = now - rangeMs('30d');
      const found = await api.searchTraces({ experimentId, filter: `trace.timestamp_ms >= ${since}`, orderBy: ['timestamp_ms ASC'], maxResults: 1 }, signal);
      const first = found.traces?.[0];
      if (!first) return '7d';
      const age = now - requestTimeMs(first);
      return RANGES.find((r) => age < rangeMs(r) * 0.9) ?? '30d';
    },
    enabled,
    staleTime: 60_000,
    retry: false,
  });
  // A failed search leaves the choice to the week; the metrics request shows what went wrong.
  return fit.isError ? '7d' : fit.data;
}

/**
 * URL parameters: range (1h, 24h, 7d, 30d; by default the shortest that holds the data) or from &
 * to (ms), group (user, session).
 */
export function OverviewPage() {
  const { experimentId = '0' } = useParams();
  const { params, set, setParams } = useUrlState();
  const asked = RANGES.find((r) => r === params.get('range'));
  const group = params.get('group') === 'user' || params.get('group') === 'session' ? (params.get('group') as 'user' | 'session') : undefined;
  // An explicit window (?from=&to=, ms since the epoch) beats the relative range: links to a past incident stay put.
  const from = Number(params.get('from'));
  const to = Number(params.get('to'));
  const fixed = from > 0 && to > from;
  const fitting = useFittingRange(experimentId, !fixed && !asked);
  const range = asked ?? fitting;
  // A fixed window of 60 hours or more is charted in buckets of whole hours on whole hours, as
  // the relative ranges are: the server then reads every bucket from its hourly rollups. Cut
  // mid-hour, each bucket boundary is an hour of traces to scan (61 for a month: ~250 ms at 1M
  // traces). The cards and top spenders keep the exact window.
  const hourly = fixed && (to - from) / 60 >= HOUR_MS;
  const bucket = fixed ? (hourly ? Math.ceil((to - from) / 60 / HOUR_MS) * HOUR_MS : Math.max(60_000, Math.ceil((to - from) / 60 / 60_000) * 60_000)) : range ? BUCKETS[range] : 0;
  const end = fixed ? to : Math.ceil(Date.now() / (bucket || 1)) * bucket;
  const start = fixed ? from : range ? end - rangeMs(range) : 0;
  const chartStart = hourly ? Math.floor(start / HOUR_MS) * HOUR_MS : start;
  const chartEnd = hourly ? Math.ceil(end / HOUR_MS) * HOUR_MS : end;
  const ready = fixed || range !== undefined;
  const metrics = useQuery({
    queryKey: ['metrics', experimentId, chartStart, chartEnd, bucket, group],
    queryFn: ({ signal }) =>
      api.metrics({ experiment_id: experimentId, start_time_ms: chartStart, end_time_ms: chartEnd, bucket_ms: bucket, ...(group ? { group_by: group, max_groups: 8 } : {}) }, signal),
    enabled: ready,
  });
  // The cards' numbers in one bucket over the whole range: its percentiles are of the range's
  // traces (read off the server's latency histogram), which no mix of the buckets' could give.
  const summary = useQuery({
    queryKey: ['metrics', experimentId, start, end, end - start],
    queryFn: ({ signal }) => api.metrics({ experiment_id: experimentId, start_time_ms: start, end_time_ms: end, bucket_ms: end - start }, signal).then((r) => r.buckets[0] ?? null),
    enabled: ready,
  });
  const groupKeys = metrics.data?.groups?.map((g) => g.key) ?? [];
  const feedback = useQuery({
    queryKey: ['feedback-metrics', experimentId, chartStart, chartEnd, bucket, group, groupKeys],
    queryFn: ({ signal }) =>
      api.feedbackMetrics({ experiment_id: experimentId, start_time_ms: chartStart, end_time_ms: chartEnd, bucket_ms: bucket, ...(group ? { group_by: group, group_keys: groupKeys } : {}) }, signal),
    enabled: ready && (!group || metrics.isSuccess),
  });
  const models = useQuery({
    queryKey: ['model-metrics', experimentId, chartStart, chartEnd, bucket],
    queryFn: ({ signal }) => api.modelMetrics({ experiment_id: experimentId, start_time_ms: chartStart, end_time_ms: chartEnd, bucket_ms: bucket }, signal),
    enabled: ready,
  });
  const feedbackOf = new Map(feedback.data?.groups?.map((g) => [g.key, g.names.reduce((sum, n) => ({ count: sum.count + n.count, positive: sum.positive + n.positive, negative: sum.negative + n.negative }), { count: 0, positive: 0, negative: 0 })]));
  const loading = summary.isPending;
  const all = summary.data;
  // Without an answer (a failed request) there is no count to show, not a count of 0.
  const known = (text: string) => (all ? text : '–');
  const traces = all?.traces ?? 0;
  const errors = all?.errors ?? 0;
  const ofTraces = all ? `of ${num(traces)} trace${traces === 1 ? '' : 's'}` : undefined;
  const histogram = "Read off the server's latency histogram, whose bins are 20% wide: within 10% of the exact value.";

  return (
    <div className="page">
      <div className="page-head">
        <h1>Overview</h1>
        <div className="segmented" role="group" aria-label="Time range">
          {RANGES.map((r) => (
            <button key={r} className={!fixed && r === range ? 'active' : ''} onClick={() => setParams(withParams(params, { range: r, from: null, to: null }))}>
              {r}
            </button>
          ))}
        </div>
        {!fixed && !asked && range && <span className="muted small">fitted to the data</span>}
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
      <ErrorNote error={summary.error ?? metrics.error ?? models.error} />
      <div className="stats" aria-busy={loading || undefined}>
        <Stat label="Traces" loading={loading} value={known(num(traces))} sub={fixed ? timeRange(start, end) : range ? TIME_RANGES[range]!.label : undefined} />
        <Stat label="Errors" loading={loading} value={<span className={errors ? 'text-error' : ''}>{known(num(errors))}</span>} sub={traces ? `${((errors / traces) * 100).toFixed(1)}% of traces` : undefined} />
        <Stat label="Latency p50" loading={loading} value={<span title={histogram}>{duration(all?.latency_p50_ms)}</span>} sub={ofTraces} />
        <Stat label="Latency p95" loading={loading} value={<span title={histogram}>{duration(all?.latency_p95_ms)}</span>} sub={ofTraces} />
        <Stat label="Tokens" loading={loading} value={known(compact(all?.total_tokens ?? 0))} />
        <Stat label="Cost" loading={loading} value={known(usd(all?.cost ?? 0))} sub={traces && all?.cost ? `${usd(all.cost / traces)} per trace` : undefined} />
      </div>
      {metrics.data && (
        <MetricsCharts data={metrics.data}>
          {feedback.data && feedback.data.names.length > 0 && <FeedbackChart data={feedback.data} />}
          {models.data && <ModelCosts data={models.data} askedStartMs={start} askedEndMs={end} />}
        </MetricsCharts>
      )}
      {/* After the range's totals, which its shares are of; an error there is said once, above. */}
      {summary.isSuccess && <TopSpenders experimentId={experimentId} startMs={start} endMs={end} totalCost={all?.cost} />}
      {metrics.data?.groups && metrics.data.groups.length > 0 && (
        <div className="panel">
          <table className="plain-table">
            <thead>
              <tr>
                <th>{group === 'user' ? 'User' : 'Session'}</th>
                <th className="num">Traces</th>
                <th className="num">Errors</th>
                <th className="num">Tokens</th>
                <th className="num">Cost</th>
                <th className="num" title="Valid feedback on these traces (and, for a session, on the session itself)">Feedback</th>
                <th className="num" title="Of the yes/no feedback, the share that says yes">Positive</th>
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
                  <td className="num">{spend(g.cost)}</td>
                  <td className="num">{feedbackOf.has(g.key) ? num(feedbackOf.get(g.key)!.count) : '–'}</td>
                  <td className="num">{shareText(feedbackOf.get(g.key))}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function shareText(c: { positive: number; negative: number } | undefined): string {
  const share = c && positiveShare(c);
  return share === undefined || share === null ? '–' : `${Math.round(share * 100)}%`;
}
