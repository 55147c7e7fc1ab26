// A job's change always reaches an open page: the ways one was missed, each made to happen on purpose.
// A page left for another held its event stream open in the back/forward cache until Chromium had no
// connection left for the next one; a reload of the list that started before a change and answered after
// it put the row back; a change that committed between a page's first read and its stream's start was
// never shown. Found by the dashboard benchmark (bench/figures/dashboard.ts).
import type { Browser, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureUiBuilt, launchBrowser, newPage, signIn } from '../helpers/browser.js';
import { startDashboardSystem, type DashboardSystem } from '../helpers/dashboard-system.js';
import { PLATFORM_TOKEN } from '../helpers/job-system.js';

let sys: DashboardSystem;
let browser: Browser;

beforeAll(async () => {
  await ensureUiBuilt();
  sys = await startDashboardSystem();
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await sys?.stopAll();
});

/** A queued job that stays queued: its agent never comes. */
const queuedJob = () => sys.submit({ task: 'say', agent: 'nobody' });
const cancel = async (id: string) => expect((await sys.platform('POST', `/v1/jobs/${id}/cancel`)).status).toBe(200);
const rowState = (page: Page, id: string) => page.locator(`tr[data-job-id="${id}"]`).getAttribute('data-state');
const live = (page: Page) => page.getByTestId('live').filter({ hasText: /^live$/ }).waitFor();

/** A gate a route handler waits at until the test opens it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

async function withPage(fn: (page: Page) => Promise<void>, before?: (page: Page) => Promise<void>): Promise<void> {
  const { context, page, errors } = await newPage(browser);
  try {
    await before?.(page);
    await signIn(page, sys.controllerUrl, PLATFORM_TOKEN);
    await fn(page);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}

describe('a page left for another', () => {
  it('closes its event stream, so the pages after it get a connection, and loads afresh when shown again', async () => {
    const id = await queuedJob();
    await withPage(async (page) => {
      // Chromium allows six connections to one host; each page left open in the cache held one.
      for (let i = 0; i < 7; i++) {
        await page.goto(`${sys.controllerUrl}/#/jobs`);
        await page.locator(`tr[data-job-id="${id}"]`).waitFor();
        await live(page);
        await page.goto('about:blank');
      }
      // Changed while the page is away; Back shows it again (from the cache, or loaded), up to date.
      await cancel(id);
      await page.goBack();
      await live(page);
      await expect.poll(() => rowState(page, id), { timeout: 30_000 }).toBe('cancelled');
    });
  });
});

describe('the Jobs page', () => {
  it('keeps a change that lands while the list is being read again (the read answered from before it)', async () => {
    const a = await queuedJob();
    await withPage(async (page) => {
      await page.goto(`${sys.controllerUrl}/#/jobs`);
      await page.locator(`tr[data-job-id="${a}"]`).waitFor();
      await live(page);
      // The next read of the list is answered now and delivered only when the gate opens.
      const taken = gate();
      const release = gate();
      let held = false;
      await page.route(/\/v1\/jobs\?/, async (route: Route) => {
        if (held) return route.continue();
        held = true;
        const response = await route.fetch();
        taken.open();
        await release.opened;
        await route.fulfill({ response });
      });
      // A new job makes the first page read again; its answer still has `a` queued.
      const b = await queuedJob();
      await taken.opened;
      await cancel(a);
      // The event changes the row at once...
      await expect.poll(() => rowState(page, a), { timeout: 30_000 }).toBe('cancelled');
      release.open();
      // ...and the older answer, now on the page (it lists b), does not put it back.
      await page.locator(`tr[data-job-id="${b}"]`).waitFor();
      expect(await rowState(page, a)).toBe('cancelled');
    });
  });

  it('shows a change that committed after its first read but before its event stream opened', async () => {
    const a = await queuedJob();
    const stream = gate();
    await withPage(
      async (page) => {
        await page.goto(`${sys.controllerUrl}/#/jobs`);
        // The stream is held: the page reads the list without it.
        await page.locator(`tr[data-job-id="${a}"]`).waitFor();
        await cancel(a);
        stream.open();
        await live(page);
        await expect.poll(() => rowState(page, a), { timeout: 30_000 }).toBe('cancelled');
      },
      // Every event stream of this page waits at the gate (sign-in opens one too).
      async (page) => {
        await page.route(/\/v1\/events/, async (route) => {
          await stream.opened;
          await route.continue();
        });
      },
    );
  });
});
