// The Fleet and Host pages against real agents and monitors: a killed agent turns offline without a
// reload, one is drained and resumed, a removed one is revoked (its credential refused from then on), and the host charts show the
// monitor's samples as they arrive.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureUiBuilt, launchBrowser, newPage, signIn } from '../helpers/browser.js';
import { startDashboardSystem, type DashboardSystem } from '../helpers/dashboard-system.js';
import { PLATFORM_TOKEN, type AgentHandle } from '../helpers/job-system.js';

let sys: DashboardSystem;
let browser: Browser;
let doomed: AgentHandle;

beforeAll(async () => {
  await ensureUiBuilt();
  sys = await startDashboardSystem();
  doomed = await sys.startAgent('doomed-1', { HTTPAGENT_LABELS: 'role=batch' });
  await sys.startAgent('spare-1', { HTTPAGENT_LABELS: 'role=batch' });
  const steady = await sys.startAgent('steady-1', { HTTPAGENT_LABELS: 'role=web' });
  await sys.startMonitor(steady);
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await sys?.stopAll();
});

describe('the fleet page', () => {
  it('shows a killed agent offline without a reload', async () => {
    const { context, page, errors } = await newPage(browser);
    try {
      await signIn(page, sys.controllerUrl, PLATFORM_TOKEN);
      await page.goto(`${sys.controllerUrl}/#/fleet`);
      const row = page.locator('tr[data-agent-id="doomed-1"]');
      await expect.poll(() => row.getAttribute('data-state'), { timeout: 30_000 }).toBe('online');
      // A mark in the page's memory: gone if the page were reloaded.
      await page.evaluate(() => ((globalThis as Record<string, unknown>).notReloaded = true));
      await doomed.kill('SIGKILL');
      await expect.poll(() => row.getAttribute('data-state'), { timeout: 30_000 }).toBe('offline');
      expect(await row.locator('.why').textContent()).toMatch(/offline/);
      expect(await page.evaluate(() => (globalThis as Record<string, unknown>).notReloaded)).toBe(true);
      expect(await page.getByTestId('count-offline').textContent()).toBe('1');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('drains and resumes an agent, then removes it: a second click revokes its credential', async () => {
    const { context, page, errors } = await newPage(browser);
    try {
      await signIn(page, sys.controllerUrl, PLATFORM_TOKEN);
      await page.goto(`${sys.controllerUrl}/#/fleet`);
      const row = page.locator('tr[data-agent-id="spare-1"]');
      await expect.poll(() => row.getAttribute('data-state'), { timeout: 30_000 }).toBe('online');
      await page.getByRole('button', { name: 'Drain spare-1' }).click();
      await expect.poll(() => row.getAttribute('data-state'), { timeout: 30_000 }).toBe('draining');
      expect((await sys.platform('GET', '/v1/agents')).json.find((a: { id: string }) => a.id === 'spare-1').state).toBe('draining');
      await page.getByRole('button', { name: 'Resume spare-1' }).click();
      await expect.poll(() => row.getAttribute('data-state'), { timeout: 30_000 }).toBe('online');
      await page.getByRole('button', { name: 'Remove spare-1 (revoke its credential)' }).click();
      // Nothing happens before the confirmation: the agent is still enrolled.
      expect((await sys.platform('GET', '/v1/agents')).json.find((a: { id: string }) => a.id === 'spare-1').state).not.toBe('revoked');
      await page.getByRole('button', { name: 'Revoke spare-1' }).click();
      await expect.poll(() => row.getAttribute('data-state'), { timeout: 30_000 }).toBe('revoked');
      await expect.poll(() => page.getByTestId('fleet-note').textContent()).toMatch(/Revoked spare-1/);
      // The controller agrees, and a port token for it is refused: it holds no live credential.
      expect((await sys.platform('GET', '/v1/agents')).json.find((a: { id: string }) => a.id === 'spare-1').state).toBe('revoked');
      expect((await sys.platform('POST', '/v1/agents/spare-1/token', {})).status).toBe(404);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});

describe('the host page', () => {
  it("charts the monitor's samples and adds new ones as they arrive", async () => {
    await sys.waitFor('samples', async () => ((await sys.platform('GET', '/v1/agents/steady-1/metrics')).json.samples.length >= 3 ? true : undefined));
    const { context, page, errors } = await newPage(browser);
    try {
      await signIn(page, sys.controllerUrl, PLATFORM_TOKEN);
      await page.goto(`${sys.controllerUrl}/#/fleet/steady-1`);
      const count = async () => Number(/^(\d+) samples/.exec((await page.getByTestId('sample-count').textContent()) ?? '')?.[1] ?? 0);
      await expect.poll(count, { timeout: 30_000 }).toBeGreaterThanOrEqual(3);
      const before = await count();
      const stored = (await sys.platform('GET', '/v1/agents/steady-1/metrics')).json.samples as { ts: number; cpu: unknown }[];
      expect(before).toBeLessThanOrEqual(stored.length);
      // One chart per figure, each a uPlot canvas with the series named in its legend.
      for (const title of ['CPU (%)', 'Load average', 'Memory (%)', 'Filesystem use (%)']) {
        const chart = page.locator('figure.chart', { has: page.locator('figcaption', { hasText: title }) });
        await chart.locator('canvas').waitFor();
      }
      const legend = await page.locator('figure.chart').first().locator('.u-legend').textContent();
      expect(legend).toContain('user');
      expect(legend).toContain('iowait');
      // Live: the page takes in samples pushed after it opened.
      await expect.poll(count, { timeout: 30_000 }).toBeGreaterThan(before);
      // The crosshair shows values: hovering the plot fills the legend with numbers.
      const over = page.locator('figure.chart').first().locator('.u-over');
      const box = (await over.boundingBox())!;
      await page.mouse.move(box.x + box.width - 5, box.y + box.height / 2);
      await expect.poll(() => page.locator('figure.chart').first().locator('.u-legend .u-value').nth(1).textContent()).toMatch(/%/);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
