import type { TraceMetricsResponse } from '@threadline/protocol';
import { useMemo, type ReactNode } from 'react';
import { compact, duration, usd } from '../format';
import { Chart, paletteColor, type ChartSeries } from './Chart';

const fmtDuration = (v: number) => duration(v);
const fmtCompact = (v: number) => compact(v);
const fmtUsd = (v: number) => usd(v);

type ChartKind = 'traces' | 'latency' | 'tokens' | 'cost' | 'groups';

/** The standard charts of a metrics response: traces and errors, latency, tokens, cost, and per group; `children` are more charts in the same grid. */
export function MetricsCharts({ data, only, children }: { data: TraceMetricsResponse; only?: ChartKind[]; children?: ReactNode }) {
  const times = useMemo(() => data.buckets.map((b) => b.time_ms), [data]);
  // The window asked for, not the data's extent: one bucket alone would leave uPlot to guess.
  const xRange = useMemo((): [number, number] => [data.start_time_ms, Math.max(data.start_time_ms + 1, data.end_time_ms - data.bucket_ms)], [data]);
  const series = useMemo(() => {
    const b = data.buckets;
    return {
      traces: [
        { label: 'Traces', values: b.map((x) => x.traces), color: '--c1', fill: true },
        { label: 'Errors', values: b.map((x) => x.errors), color: '--error' },
      ] as ChartSeries[],
      latency: [
        { label: 'p50', values: b.map((x) => x.latency_p50_ms), color: '--c1' },
        { label: 'p95', values: b.map((x) => x.latency_p95_ms), color: '--c3' },
        { label: 'p99', values: b.map((x) => x.latency_p99_ms), color: '--error' },
      ] as ChartSeries[],
      tokens: [
        { label: 'Input', values: b.map((x) => x.input_tokens), color: '--c2', fill: true },
        { label: 'Output', values: b.map((x) => x.output_tokens), color: '--c4', fill: true },
      ] as ChartSeries[],
      cost: [{ label: 'Cost', values: b.map((x) => x.cost), color: '--c5', fill: true }] as ChartSeries[],
      groups: (data.groups ?? []).map((g, i) => ({ label: g.key, values: g.series.map((p) => p.traces), color: paletteColor(i) })) as ChartSeries[],
    };
  }, [data]);
  const show = (k: ChartKind) => !only || only.includes(k);
  return (
    <div className="charts">
      {show('traces') && (
        <div className="panel chart-panel">
          <h3>Traces and errors</h3>
          <Chart times={times} xRange={xRange} series={series.traces} format={fmtCompact} testId="chart-traces" />
        </div>
      )}
      {show('latency') && (
        <div className="panel chart-panel">
          <h3>Latency percentiles</h3>
          <Chart times={times} xRange={xRange} series={series.latency} format={fmtDuration} testId="chart-latency" />
        </div>
      )}
      {show('tokens') && (
        <div className="panel chart-panel">
          <h3>Tokens</h3>
          <Chart times={times} xRange={xRange} series={series.tokens} format={fmtCompact} testId="chart-tokens" />
        </div>
      )}
      {show('cost') && (
        <div className="panel chart-panel">
          <h3>Cost (USD, priced LLM calls)</h3>
          <Chart times={times} xRange={xRange} series={series.cost} format={fmtUsd} testId="chart-cost" />
        </div>
      )}
      {show('groups') && series.groups.length > 0 && (
        <div className="panel chart-panel">
          <h3>Traces by {data.group_by} (busiest {series.groups.length})</h3>
          <Chart times={times} xRange={xRange} series={series.groups} format={fmtCompact} testId="chart-groups" />
        </div>
      )}
      {children}
    </div>
  );
}
