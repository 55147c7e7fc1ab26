// One EventSource for the whole page (GET /v1/events): pages subscribe to what they show. The browser
// reconnects by itself and sends Last-Event-ID, so the controller replays what was missed; a `reset`
// (the gap was trimmed away) tells every page to read its data again.
import type { DashboardEvent } from './api.js';

type Listener = (e: DashboardEvent) => void;

const listeners = new Set<Listener>();
let source: EventSource | undefined;
let connected = false;
const statusListeners = new Set<(up: boolean) => void>();

export function startEvents(): void {
  if (source) return;
  source = new EventSource('/v1/events');
  source.onopen = () => setStatus(true);
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
  setStatus(false);
}

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
