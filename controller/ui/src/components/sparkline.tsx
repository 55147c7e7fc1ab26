// A tiny line of recent values (0-100) as SVG: a thousand of them on the fleet page cost nothing.
export function Sparkline({ values, label }: { values: (number | null)[]; label: string }) {
  const w = 80;
  const h = 20;
  const pts = values.map((v, i) => (v === null ? null : `${((i / Math.max(1, values.length - 1)) * w).toFixed(1)},${(h - (Math.min(100, Math.max(0, v)) / 100) * h).toFixed(1)}`));
  const path = pts.filter((p): p is string => p !== null).join(' ');
  const last = [...values].reverse().find((v) => v !== null);
  return (
    <svg class="spark" width={w} height={h} viewBox={`0 0 ${w} ${h}`} role="img" aria-label={`${label}: ${last === undefined || last === null ? 'no data' : `${last.toFixed(0)} % now`}`}>
      <polyline points={path} fill="none" stroke="currentColor" stroke-width="1.5" />
    </svg>
  );
}
