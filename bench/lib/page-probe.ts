// What the dashboard figure watches inside the page, installed before the app's own scripts run: when
// each job event reached the page's EventSource, and when each watched row's state changed in the DOM and
// in the frame after. Times are the browser's Date.now(), the same machine clock as Redis's stream ids.
import type { BrowserContext, Page } from 'playwright-core';

/** Keys of the maps below are `${jobId} ${state}`; each keeps its first time. */
export interface ProbeTimes {
  /** The event reached the page (an EventSource message listener ahead of the app's own). */
  sse: Record<string, number>;
  /** The row's data-state changed to it (MutationObserver, before paint). */
  dom: Record<string, number>;
  /** The first animation frame after that change: the frame that shows it. */
  frame: Record<string, number>;
  /** EventSource opens, errors and controller resets seen so far (a reconnect explains a miss). */
  opens: number;
  errors: number;
  resets: number;
}

// Plain JavaScript, run in every document of the context before the page's scripts (a string: functions
// the bench passes to page.evaluate are compiled by tsx, whose name helpers do not exist in the page). It
// subclasses EventSource (the app constructs `new EventSource(...)` from the global), so it sees every
// message first, and keeps the row watcher that watchRows() starts.
const INIT = `(() => {
  const probe = { watch: new Set(), sse: {}, dom: {}, frame: {}, opens: 0, errors: 0, resets: 0, observer: undefined };
  Object.defineProperty(window, '__benchProbe', { value: probe });
  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      this.addEventListener('open', () => probe.opens++);
      this.addEventListener('error', () => probe.errors++);
      this.addEventListener('message', (m) => {
        let e;
        try { e = JSON.parse(m.data); } catch { return; }
        if (e && e.type === 'reset') probe.resets++;
        if (e && e.type === 'job' && probe.watch.has(e.id)) probe.sse[e.id + ' ' + e.state] ??= Date.now();
      });
    }
  };
  // Every watched row's state as it is now, each first seen state timed, and the frame after it.
  function scan() {
    const now = Date.now();
    const fresh = [];
    for (const row of document.querySelectorAll('tr[data-job-id]')) {
      const id = row.getAttribute('data-job-id');
      if (!probe.watch.has(id)) continue;
      const key = id + ' ' + row.getAttribute('data-state');
      if (probe.dom[key] === undefined) {
        probe.dom[key] = now;
        fresh.push(key);
      }
    }
    if (fresh.length) requestAnimationFrame(() => fresh.forEach((k) => (probe.frame[k] ??= Date.now())));
  }
  probe.track = (ids) => {
    for (const id of ids) probe.watch.add(id);
    if (!probe.observer) {
      probe.observer = new MutationObserver(scan);
      probe.observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
    }
    scan();
  };
})();`;

export async function installProbe(context: BrowserContext): Promise<void> {
  await context.addInitScript({ content: INIT });
}

type InPage = { __benchProbe: Omit<ProbeTimes, never> & { track(ids: string[]): void } };

/**
 * Watches `ids`: from now on every change of their rows' data-state is timed. One observer on the whole
 * document, not on a row: a row the list re-renders as a new element is still seen, and the current
 * state is recorded at once, so a change that lands before the observer cannot be waited for forever.
 */
export async function watchRows(page: Page, ids: string[]): Promise<void> {
  await page.evaluate((watched) => (globalThis as unknown as InPage).__benchProbe.track(watched), ids);
}

export async function probeTimes(page: Page): Promise<ProbeTimes> {
  return page.evaluate(() => {
    const p = (globalThis as unknown as InPage).__benchProbe;
    return { sse: p.sse, dom: p.dom, frame: p.frame, opens: p.opens, errors: p.errors, resets: p.resets };
  });
}

/** Resolves once the row of `id` showed `state` in a frame; rejects after `timeoutMs`. */
export async function waitShown(page: Page, id: string, state: string, timeoutMs: number): Promise<void> {
  await page.waitForFunction((key) => (globalThis as unknown as InPage).__benchProbe.frame[key] !== undefined, `${id} ${state}`, { timeout: timeoutMs, polling: 10 });
}
