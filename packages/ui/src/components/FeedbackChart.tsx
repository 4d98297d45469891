import type { FeedbackCountsJson, FeedbackMetricsResponse } from '@threadline/protocol';
import { useMemo } from 'react';
import { Chart, paletteColor, type ChartSeries } from './Chart';

/** The share of yes/no feedback that says yes; null without any (a gap, not a 0%). */
export function positiveShare(c: Pick<FeedbackCountsJson, 'positive' | 'negative'>): number | null {
  const judged = c.positive + c.negative;
  return judged === 0 ? null : c.positive / judged;
}

const percent = (v: number) => `${Math.round(v * 100)}%`;

/**
 * Feedback over time: per feedback name with yes/no values, the share that says yes in each
 * bucket; names with only numbers or text are listed with their counts under the chart.
 */
export function FeedbackChart({ data }: { data: FeedbackMetricsResponse }) {
  const xRange = useMemo((): [number, number] => [data.start_time_ms, Math.max(data.start_time_ms + 1, data.end_time_ms - data.bucket_ms)], [data]);
  const judged = useMemo(() => data.names.filter((n) => n.positive + n.negative > 0), [data]);
  const series = useMemo(
    (): ChartSeries[] => judged.map((n, i) => ({ label: `${n.name} (${n.positive + n.negative})`, values: n.series.map(positiveShare), color: paletteColor(i) })),
    [judged],
  );
  const others = data.names.filter((n) => n.positive + n.negative === 0);
  return (
    <div className="panel chart-panel" data-testid="feedback-panel">
      <h3>Feedback: share positive</h3>
      {judged.length > 0 ? (
        <Chart times={data.times_ms} xRange={xRange} series={series} format={percent} testId="chart-feedback" />
      ) : (
        <p className="muted small">No thumbs-up or thumbs-down in this range.</p>
      )}
      {others.length > 0 && (
        <p className="muted small">
          {others.map((n) => `${n.name}: ${n.count}${n.numeric_count ? `, mean ${(n.numeric_sum / n.numeric_count).toFixed(2)}` : ''}`).join(' · ')}
        </p>
      )}
    </div>
  );
}
