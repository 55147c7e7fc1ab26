// Hooks the pages share: data loaded once and again when events say it changed, and a clock.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { DashboardEvent } from './api.js';
import { onEvent, whenOpen } from './events.js';

/** How long a page's first read waits for the event stream to open before it reads anyway (and again once it opens). */
const OPEN_WAIT_MS = 1000;

/**
 * Loads with `load`, and again (at most once per `throttleMs`) when an event passes `affects`. Reloads
 * are driven by events, never by a timer, and one is in flight at a time: an answer that took long can
 * never land after a newer one. `apply` changes the data in place for an event, at once; the events
 * applied while a read was in flight are applied again to its answer, which may predate them (without
 * that, a row changed by an event went back to its old state when a reload started before the change
 * landed after it, and stayed so until its next event).
 */
export function useLive<T>(load: () => Promise<T>, deps: unknown[], affects: (e: DashboardEvent) => boolean, throttleMs = 300, apply?: (data: T, e: DashboardEvent) => T) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const loadRef = useRef(load);
  loadRef.current = load;
  const affectsRef = useRef(affects);
  affectsRef.current = affects;
  const applyRef = useRef(apply);
  applyRef.current = apply;
  useEffect(() => {
    let alive = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    /** The events seen since the read in flight started; undefined while none is in flight. */
    let during: DashboardEvent[] | undefined;
    /** An event asked for a read while one was in flight: read again once it lands. */
    let again = false;
    const run = () => {
      if (during) {
        again = true;
        return;
      }
      last = Date.now();
      const seen: DashboardEvent[] = (during = []);
      loadRef
        .current()
        .then(
          (d) => {
            if (!alive) return;
            const patch = applyRef.current;
            setData(patch ? seen.reduce(patch, d) : d);
            setError(undefined);
          },
          (err: Error) => alive && setError(err.message),
        )
        .finally(() => {
          during = undefined;
          if (alive && again) {
            again = false;
            schedule();
          }
        });
    };
    const schedule = () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        run();
      }, Math.max(0, throttleMs - (Date.now() - last)));
    };
    // Read once the stream is open, so no change falls between the read and the stream's start; a read
    // that could not wait for it is done again when it opens.
    void whenOpen(OPEN_WAIT_MS).then((open) => {
      if (!alive) return;
      run();
      if (!open) void whenOpen().then(() => alive && schedule());
    });
    const off = onEvent((e) => {
      const patch = applyRef.current;
      if (patch) {
        during?.push(e);
        setData((d) => (d === undefined ? d : patch(d, e)));
      }
      if (e.type !== 'reset' && e.type !== 'batch' && !affectsRef.current(e)) return;
      schedule();
    });
    return () => {
      alive = false;
      off();
      if (timer) clearTimeout(timer);
    };
  }, deps);
  return { data, error };
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
