// One EventSource for the whole page (GET /v1/events): pages subscribe to what they show. The browser
// reconnects by itself and sends Last-Event-ID (the controller sends an id first thing, so even a quiet
// stream has one), so the controller replays what was missed; a `reset` (the gap was trimmed away) tells
// every page to read its data again.
import type { DashboardEvent } from './api.js';

type Listener = (e: DashboardEvent) => void;

const listeners = new Set<Listener>();
let source: EventSource | undefined;
let connected = false;
/** Whether the current source has opened once: from then on no change is missed (see whenOpen). */
let opened = false;
const statusListeners = new Set<(up: boolean) => void>();
const openWaiters = new Set<() => void>();

export function startEvents(): void {
  if (source) return;
  source = new EventSource('/v1/events');
  source.onopen = () => {
    opened = true;
    for (const w of openWaiters) w();
    openWaiters.clear();
    setStatus(true);
  };
  source.onerror = () => setStatus(false);
  source.onmessage = (m: MessageEvent<string>) => {
    let e: DashboardEvent;
    try {
      e = JSON.parse(m.data) as DashboardEvent;
    } catch {
      return;
    }
    for (const l of listeners) l(e);
  };
}

export function stopEvents(): void {
  source?.close();
  source = undefined;
  opened = false;
  setStatus(false);
}

// A page left for another is kept in the back/forward cache with its connections open, and Chromium
// allows six to one host: a few pages left that way made every request of the next one wait about a
// minute for a connection (the dashboard benchmark's Job page). So the stream ends when the page is
// hidden; a page shown again from the cache missed events meanwhile and loads afresh.
addEventListener('pagehide', () => stopEvents());
addEventListener('pageshow', (e) => {
  if (e.persisted) location.reload();
});

function setStatus(up: boolean): void {
  connected = up;
  for (const l of statusListeners) l(up);
}

export function onEvent(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

export function onStatus(l: (up: boolean) => void): () => void {
  statusListeners.add(l);
  l(connected);
  return () => statusListeners.delete(l);
}

/**
 * Resolves true once the stream has opened (at once if it has), or false after `ms` if given. The
 * controller fixes a new stream's start before it answers, so data read after the stream opened misses
 * no event; data read before may miss what committed between the read and the stream's start.
 */
export function whenOpen(ms?: number): Promise<boolean> {
  if (opened) return Promise.resolve(true);
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = () => {
      clearTimeout(timer);
      openWaiters.delete(done);
      resolve(true);
    };
    if (ms !== undefined) {
      timer = setTimeout(() => {
        openWaiters.delete(done);
        resolve(false);
      }, ms);
    }
    openWaiters.add(done);
  });
}
