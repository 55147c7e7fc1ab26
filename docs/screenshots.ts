// `npm run screenshots`: regenerates docs/screenshots/*.png, the dashboard as the README shows it. Starts
// a private system (Redis, controller, two agents with monitors and a third one removed), gives it some
// history, and photographs each page in Debian's Chromium.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureUiBuilt, launchBrowser, newPage, signIn } from '../test/helpers/browser.js';
import { startDashboardSystem } from '../test/helpers/dashboard-system.js';
import { PLATFORM_TOKEN } from '../test/helpers/job-system.js';
import { repoRoot } from '../test/helpers/processes.js';

const out = join(repoRoot, 'docs/screenshots');
/** Monitor samples each host has before the photographs: enough for a line on every chart. */
const SAMPLES = 15;

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  await ensureUiBuilt();
  const sys = await startDashboardSystem();
  const browser = await launchBrowser();
  try {
    const web = await sys.startAgent('web-1', { HTTPAGENT_LABELS: 'role=web,zone=a' });
    const db = await sys.startAgent('db-1', { HTTPAGENT_LABELS: 'role=db,zone=b' });
    await sys.startMonitor(web);
    await sys.startMonitor(db);
    for (let i = 0; i < 6; i++) await sys.submit({ task: 'say', params: { text: `build ${i}` } });
    await sys.submit({ task: 'say', params: { text: 'broken build', exit: '3' } });
    const ticker = await sys.submit({ steps: [{ task: 'say', params: { text: 'prepare' } }, { task: 'ticker', params: { seconds: '120' } }], labels: { role: 'web' } });
    // A removed host shows as revoked on the fleet page.
    const old = await sys.startAgent('old-1', { HTTPAGENT_LABELS: 'role=web,zone=a' });
    await sys.waitFor('old-1 registered', async () => ((await sys.platform('GET', '/v1/agents')).json as { id: string }[]).some((a) => a.id === 'old-1') || undefined);
    await sys.platform('DELETE', '/v1/agents/old-1');
    await old.kill('SIGKILL');
    for (const id of ['web-1', 'db-1']) {
      await sys.waitFor(`${SAMPLES} samples of ${id}`, async () => ((await sys.platform('GET', `/v1/agents/${id}/metrics`)).json.samples.length >= SAMPLES ? true : undefined), 120_000);
    }

    const shoot = async (name: string, hash: string, ready: (p: import('playwright-core').Page) => Promise<unknown>, opts: { width?: number; dark?: boolean } = {}) => {
      const { context, page } = await newPage(browser, { width: opts.width ?? 1280, height: 860, dark: opts.dark ?? false });
      try {
        await signIn(page, sys.controllerUrl, PLATFORM_TOKEN);
        await page.goto(`${sys.controllerUrl}/${hash}`);
        await ready(page);
        await page.waitForTimeout(500);
        await page.screenshot({ path: join(out, `${name}.png`), fullPage: false });
        process.stdout.write(`wrote docs/screenshots/${name}.png\n`);
      } finally {
        await context.close();
      }
    };
    await shoot('overview', '#/', (p) => p.getByRole('heading', { name: 'Overview' }).waitFor());
    // Sparklines fill from the live samples (one a second): a dozen points draw a line worth showing.
    const sparklinesFilled = (p: import('playwright-core').Page) =>
      p.waitForFunction(() => {
        const line = (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(n: string): string | null } | null } }).document.querySelector('tr[data-agent-id="web-1"] svg.spark polyline');
        return (line?.getAttribute('points') ?? '').split(' ').length >= 12;
      }, undefined, { timeout: 60_000 });
    await shoot('fleet', '#/fleet', sparklinesFilled);
    await shoot('host', '#/fleet/web-1', (p) => p.locator('.chart').first().waitFor());
    await shoot('jobs', '#/jobs', (p) => p.locator(`tr[data-job-id="${ticker}"]`).waitFor());
    await shoot('job', `#/jobs/${ticker}`, (p) => p.locator('.log-line').first().waitFor());
    await shoot('fleet-phone', '#/fleet', sparklinesFilled, { width: 390 });
    await shoot('job-dark', `#/jobs/${ticker}`, (p) => p.locator('.log-line').first().waitFor(), { dark: true });
  } finally {
    await browser.close();
    await sys.stopAll();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`screenshots: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
