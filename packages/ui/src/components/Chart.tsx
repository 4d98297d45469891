import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useTheme } from '../theme';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** CSS custom property name or a colour. */
  color: string;
  fill?: boolean;
}

const PALETTE = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6', '--c7', '--c8'];
export const paletteColor = (i: number): string => PALETTE[i % PALETTE.length]!;

/** Indices of values with no value on either side: a line cannot draw them, a dot can. */
function isolated(values: (number | null)[]): number[] {
  return values.flatMap((v, i) => (v !== null && (values[i - 1] ?? null) === null && (values[i + 1] ?? null) === null ? [i] : []));
}

/** The last point where any series has something to say (a non-zero value), else the last with any value. */
function latestPoint(series: ChartSeries[]): number | null {
  const length = Math.max(0, ...series.map((s) => s.values.length));
  let anyValue: number | null = null;
  for (let i = length - 1; i >= 0; i--) {
    const values = series.map((s) => s.values[i] ?? null);
    if (values.some((v) => v !== null && v !== 0)) return i;
    if (anyValue === null && values.some((v) => v !== null)) anyValue = i;
  }
  return anyValue;
}

/**
 * The value axis's width: enough for its longest tick label (`$0.00045` is wider than `2k`), at
 * least 52 px. uPlot asks again after laying out the ticks; its second answer stands, so that
 * the axis cannot flip between two widths.
 */
function valueAxisSize(u: uPlot, values: string[] | null, axisIndex: number, cycle: number): number {
  const axis = u.axes[axisIndex]!;
  if (cycle > 1) return (axis as { _size?: number })._size ?? 52;
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), '');
  if (longest === '') return 52;
  u.ctx.font = String((axis.font as unknown as string[] | undefined)?.[0] ?? '11px system-ui, sans-serif');
  return Math.max(52, Math.ceil(u.ctx.measureText(longest).width / devicePixelRatio + (axis.ticks?.size ?? 10) + (axis.gap ?? 5) + 4));
}

/**
 * A small uPlot time-series chart that follows its container's width and the colour theme.
 * `xRange` (ms) fixes the time axis, so that sparse data is drawn where it happened. The legend
 * reads the point under the cursor and, away from it, the latest point with data (not dashes).
 */
export function Chart({ times, xRange, series, height = 180, format, testId }: {
  times: number[];
  xRange?: [number, number];
  series: ChartSeries[];
  height?: number;
  format?: (v: number) => string;
  testId?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const { resolved } = useTheme();
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    // Custom properties hold light-dark(...) pairs: let the browser resolve them on a probe element.
    const probe = document.createElement('span');
    el.appendChild(probe);
    const color = (c: string) => {
      probe.style.color = c.startsWith('--') ? `var(${c})` : c;
      return getComputedStyle(probe).color || '#888';
    };
    const translucent = (c: string) => color(c).replace(/^rgb\((.*)\)$/, 'rgba($1, 0.12)');
    const axis = { stroke: color('--muted'), grid: { stroke: color('--grid'), width: 1 }, ticks: { stroke: color('--grid'), width: 1 }, font: '11px system-ui, sans-serif' };
    const latest = latestPoint(series);
    const showLatest = (u: uPlot) => {
      if (u.cursor.idx === null || u.cursor.idx === undefined) {
        if (latest !== null) u.setLegend({ idx: latest }, false);
      }
    };
    const plot = new uPlot(
      {
        width: el.clientWidth || 400,
        height,
        legend: { show: true, live: true },
        cursor: { drag: { x: false, y: false } },
        hooks: { setCursor: [showLatest], ready: [showLatest] },
        scales: { x: xRange ? { time: true, range: [xRange[0] / 1000, xRange[1] / 1000] } : { time: true } },
        axes: [axis, { ...axis, size: valueAxisSize, ...(format ? { values: (_u: uPlot, ticks: number[]) => ticks.map(format) } : {}) }],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: color(s.color),
            width: 1.5,
            ...(s.fill ? { fill: translucent(s.color) } : {}),
            points: { show: true, size: 6, fill: color(s.color), filter: isolated(s.values) },
            spanGaps: false,
            ...(format ? { value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)) } : {}),
          })),
        ],
      },
      [times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData,
      el,
    );
    probe.remove();
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [times, xRange, series, height, format, resolved]);
  return <div className="chart" ref={box} data-testid={testId} />;
}
