// A time-series chart (uPlot): drag to zoom, double-click to zoom out, a crosshair whose values show
// in the legend. Colours come from CSS variables, so the chart follows the light/dark preference.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  /** One value per x; null for a gap. */
  values: (number | null)[];
  unit?: string;
}

const PALETTE = ['--c1', '--c2', '--c3', '--c4', '--c5', '--c6'];

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

export function Chart({ title, x, series, unit, format }: { title: string; x: number[]; series: Series[]; unit?: string; format?: (v: number) => string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = series.map((s) => s.label).join('\u0000');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const fmt = format ?? ((v: number) => `${v.toFixed(v < 10 ? 2 : 0)}${unit ? ` ${unit}` : ''}`);
    const axisColor = cssVar('--muted');
    const gridColor = cssVar('--grid');
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 180,
      cursor: { drag: { x: true, y: false } },
      legend: { live: true },
      scales: { x: { time: true } },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor },
          // As wide as the widest label ("18 MiB/s" must not lose its first digit), at 12 px type.
          size: (_u, vals) => Math.max(40, Math.max(0, ...(vals ?? []).map((v) => v.length)) * 7 + 18),
          values: (_u, vals) => vals.map((v) => (v === null ? '' : fmt(v))),
        },
      ],
      series: [
        { label: 'time', value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toLocaleTimeString(undefined, { hour12: false })) },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: cssVar(PALETTE[i % PALETTE.length]!),
          width: 1.5,
          spanGaps: false,
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : fmt(v)),
        })),
      ],
    };
    const u = new uPlot(opts, [x.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 180 }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = undefined;
    };
    // Rebuilt only when the set of series changes; new data goes through setData below.
  }, [shape]);

  useEffect(() => {
    plot.current?.setData([x.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData);
  }, [x, series]);

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-box" role="img" aria-label={`${title}: ${series.map((s) => s.label).join(', ')} over time`} />
    </figure>
  );
}
