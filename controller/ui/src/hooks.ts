// Hooks the pages share: data loaded once and again when events say it changed, and a clock.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DashboardEvent } from './api.js';
import { onEvent } from './events.js';

/**
 * Loads with `load`, and again (at most once per `throttleMs`) when an event passes `affects`.
 * Reloads are driven by events, never by a timer.
 */
export function useLive<T>(load: () => Promise<T>, deps: unknown[], affects: (e: DashboardEvent) => boolean, throttleMs = 300) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const affectsRef = useRef(affects);
  affectsRef.current = affects;
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    const run = () => {
      last = Date.now();
      loadRef.current().then(
        (d) => {
          if (alive) {
            setData(d);
            setError(undefined);
          }
        },
        (err: Error) => alive && setError(err.message),
      );
    };
    run();
    const off = onEvent((e) => {
      if (e.type !== 'reset' && e.type !== 'batch' && !affectsRef.current(e)) return;
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        run();
      }, Math.max(0, throttleMs - (Date.now() - last)));
    });
    return () => {
      alive = false;
      off();
      if (timer) clearTimeout(timer);
    };
  }, deps);
  return { data, error, setData };
}

/** Re-renders every `ms` (ages like "12 s ago" and offline-by-silence move on). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
