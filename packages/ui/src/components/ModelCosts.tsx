import type { ModelMetricsResponse } from '@threadline/protocol';
import { useMemo } from 'react';
import { compact, num, timeRange, usd } from '../format';
import { Chart, paletteColor, type ChartSeries } from './Chart';

const fmtUsd = (v: number) => usd(v);
const UNPRICED_HELP = 'Calls of a model no price is known for: they count nothing in the costs shown here.';

/**
 * Cost by model over a range, from the hourly model rollup: each model's cost over time, and a
 * table of its calls, tokens (in and out in the tooltip) and cost, most expensive first (the rest as `(other)`), with the
 * calls no price was found for, so that a cost is never read as complete when it is not.
 * `askedStartMs`/`askedEndMs`: the range the page shows; the rollup's whole hours may be wider.
 */
export function ModelCosts({ data, askedStartMs, askedEndMs }: { data: ModelMetricsResponse; askedStartMs: number; askedEndMs: number }) {
  const xRange = useMemo((): [number, number] => [data.start_time_ms, Math.max(data.start_time_ms + 1, data.end_time_ms - data.bucket_ms)], [data]);
  const series = useMemo((): ChartSeries[] => data.models.map((m, i) => ({ label: m.model, values: m.series.map((p) => p.cost), color: paletteColor(i) })), [data]);
  const unpriced = data.models.reduce((n, m) => n + m.unpriced_calls, 0);
  const widened = data.start_time_ms !== askedStartMs || data.end_time_ms !== askedEndMs;
  return (
    <div className="panel chart-panel" data-testid="model-costs">
      <h3>Cost by model</h3>
      {widened && <p className="muted small">Counted by the hour the call started: {timeRange(data.start_time_ms, data.end_time_ms)}.</p>}
      {data.models.length === 0 ? (
        <p className="muted small">No LLM calls in this range.</p>
      ) : (
        <>
          <Chart times={data.times_ms} xRange={xRange} series={series} format={fmtUsd} testId="chart-model-cost" />
          <table className="plain-table">
            <thead>
              <tr>
                <th>Model</th>
                <th className="num">Calls</th>
                <th className="num" title={UNPRICED_HELP}>
                  Unpriced
                </th>
                <th className="num">Tokens</th>
                <th className="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {data.models.map((m) => (
                <tr key={m.model} data-testid="model-row">
                  <td className="mono nowrap">{m.model}</td>
                  <td className="num">{num(m.calls)}</td>
                  <td className={`num ${m.unpriced_calls ? 'text-warning' : 'muted'}`} title={m.unpriced_calls ? UNPRICED_HELP : undefined}>
                    {num(m.unpriced_calls)}
                  </td>
                  <td className="num" title={`${num(m.input_tokens)} in · ${num(m.output_tokens)} out`}>
                    {compact(m.input_tokens + m.output_tokens)}
                  </td>
                  <td className="num">{usd(m.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {unpriced > 0 && (
            <p className="muted small" data-testid="unpriced-note">
              {num(unpriced)} call{unpriced === 1 ? '' : 's'} not priced: no price is known for {unpriced === 1 ? 'its model' : 'their models'}, so the costs above leave {unpriced === 1 ? 'it' : 'them'} out.
            </p>
          )}
        </>
      )}
    </div>
  );
}
