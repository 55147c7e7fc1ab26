// Small pieces every page uses: a state badge (colour plus the word, never colour alone) and a meter.
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge s-${state}`}>{state}</span>;
}

export function Meter({ value, label }: { value: number | null; label: string }) {
  const v = value ?? 0;
  const level = v >= 90 ? 'crit' : v >= 75 ? 'warn' : 'ok';
  return (
    <span class="meter" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={value ?? undefined}>
      <span class={`meter-fill ${level}`} style={{ width: `${Math.min(100, Math.max(0, v))}%` }} />
    </span>
  );
}
