// Who may do what through the dashboard: sign in and out, the viewer token reads but cannot act (no
// buttons, and the API refuses), a session call without the CSRF header is refused, and axe-core finds
// no serious or critical accessibility problem on any page.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, ensureUiBuilt, launchBrowser, newPage, signIn } from '../helpers/browser.js';
import { startDashboardSystem, VIEWER_TOKEN, type DashboardSystem } from '../helpers/dashboard-system.js';
import { PLATFORM_TOKEN } from '../helpers/job-system.js';

let sys: DashboardSystem;
let browser: Browser;
let jobId: string;

beforeAll(async () => {
  await ensureUiBuilt();
  sys = await startDashboardSystem();
  const agent = await sys.startAgent('web-1', { HTTPAGENT_LABELS: 'role=web' });
  await sys.startMonitor(agent);
  jobId = await sys.submit({ task: 'say', params: { text: 'hello' } });
  await sys.waitFinal(jobId);
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await sys?.stopAll();
});

/** A same-origin call from inside the page, with the session cookie and whatever headers are given. */
async function fromPage(page: import('playwright-core').Page, method: string, path: string, headers: Record<string, string> = {}) {
  return page.evaluate(
    async ([m, p, h]) => {
      const res = await fetch(p, { method: m, headers: { 'content-type': 'application/json', ...h }, body: m === 'GET' ? undefined : '{}' });
      return { status: res.status, body: await res.text() };
    },
    [method, path, headers] as const,
  );
}

describe('the dashboard sign-in', () => {
  it('exchanges the platform token for an HttpOnly, SameSite=Strict session cookie, and signs out', async () => {
    const { context, page, errors } = await newPage(browser);
    try {
      await page.goto(`${sys.controllerUrl}/`);
      // Not signed in: the API refuses the page's own calls.
      expect((await fromPage(page, 'GET', '/v1/agents')).status).toBe(401);
      await page.getByLabel('Token').fill('not-the-token-at-all');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/neither/);

      await signIn(page, sys.controllerUrl, PLATFORM_TOKEN);
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'httpagent_session');
      expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
      expect(session!.expires).toBeGreaterThan(Date.now() / 1000);
      // Nothing secret in the page: the token is gone once exchanged.
      expect(await page.content()).not.toContain(PLATFORM_TOKEN);
      expect((await fromPage(page, 'GET', '/v1/agents')).status).toBe(200);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Token').waitFor();
      expect((await fromPage(page, 'GET', '/v1/agents')).status).toBe(401);
      expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('serves the page under a strict Content-Security-Policy', async () => {
    const res = await fetch(`${sys.controllerUrl}/`);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(await res.text()).not.toMatch(/<script>(?!\s*<\/script>)|style=/);
  });
});

describe('a session without its CSRF header', () => {
  it('is refused on a state-changing call, and accepted with it', async () => {
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, sys.controllerUrl, PLATFORM_TOKEN);
      const bare = await fromPage(page, 'POST', `/v1/jobs/${jobId}/retry`);
      expect(bare.status).toBe(403);
      expect(JSON.parse(bare.body).error.code).toBe('CSRF_REQUIRED');
      const wrong = await fromPage(page, 'POST', `/v1/jobs/${jobId}/retry`, { 'x-csrf-token': 'x'.repeat(32) });
      expect(JSON.parse(wrong.body).error.code).toBe('CSRF_REQUIRED');
      const csrf = await page.evaluate(async () => ((await (await fetch('/auth/session')).json()) as { csrf: string }).csrf);
      const ok = await fromPage(page, 'POST', `/v1/jobs/${jobId}/retry`, { 'x-csrf-token': csrf });
      expect(ok.status).toBe(201);
    } finally {
      await context.close();
    }
  });
});

describe('the viewer token', () => {
  it('shows no action, and the API refuses the actions anyway', async () => {
    const { context, page } = await newPage(browser);
    try {
      await signIn(page, sys.controllerUrl, VIEWER_TOKEN);
      await expect.poll(() => page.getByTestId('role').textContent()).toMatch(/viewer/);
      await page.goto(`${sys.controllerUrl}/#/jobs`);
      await page.locator(`tr[data-job-id="${jobId}"]`).waitFor();
      expect(await page.getByText('Submit a job').count()).toBe(0);
      expect(await page.getByRole('button', { name: /Cancel selected|Retry selected/ }).count()).toBe(0);
      await page.goto(`${sys.controllerUrl}/#/jobs/${jobId}`);
      await page.getByRole('heading', { name: /Steps/ }).waitFor();
      expect(await page.getByRole('button', { name: /Retry|Cancel/ }).count()).toBe(0);
      await page.goto(`${sys.controllerUrl}/#/fleet`);
      await page.locator('tr[data-agent-id="web-1"]').waitFor();
      expect(await page.getByRole('button', { name: /Remove|Revoke/ }).count()).toBe(0);

      const csrf = await page.evaluate(async () => ((await (await fetch('/auth/session')).json()) as { csrf: string }).csrf);
      const refused = await fromPage(page, 'POST', `/v1/jobs/${jobId}/retry`, { 'x-csrf-token': csrf });
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body).error.code).toBe('READ_ONLY');
      const revoke = await fromPage(page, 'DELETE', '/v1/agents/web-1', { 'x-csrf-token': csrf });
      expect(JSON.parse(revoke.body).error.code).toBe('READ_ONLY');
      // The bearer form of the viewer token is read-only too.
      const bearer = await fetch(`${sys.controllerUrl}/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${VIEWER_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ task: 'say' }) });
      expect(bearer.status).toBe(403);
      expect((await fetch(`${sys.controllerUrl}/v1/jobs`, { headers: { authorization: `Bearer ${VIEWER_TOKEN}` } })).status).toBe(200);
    } finally {
      await context.close();
    }
  });
});

describe('accessibility', () => {
  it.each([false, true])('axe-core finds no serious or critical violation on any page (dark: %s)', async (dark) => {
    {
      const { context, page, errors } = await newPage(browser, { dark });
      try {
        await page.goto(`${sys.controllerUrl}/`);
        await page.getByLabel('Token').waitFor();
        expect(await axeViolations(page), 'sign-in').toEqual([]);
        await signIn(page, sys.controllerUrl, PLATFORM_TOKEN);
        const pages: [string, () => Promise<unknown>][] = [
          ['#/', () => page.getByRole('heading', { name: 'Overview' }).waitFor()],
          ['#/fleet', () => page.locator('tr[data-agent-id="web-1"]').waitFor()],
          ['#/fleet/web-1', () => page.getByTestId('sample-count').waitFor()],
          ['#/jobs', () => page.locator(`tr[data-job-id="${jobId}"]`).waitFor()],
          [`#/jobs/${jobId}`, () => page.getByTestId('log-lines').waitFor()],
        ];
        for (const [hash, ready] of pages) {
          await page.goto(`${sys.controllerUrl}/${hash}`);
          await ready();
          expect(await axeViolations(page), `${hash} (${dark ? 'dark' : 'light'})`).toEqual([]);
        }
        expect(errors).toEqual([]);
      } finally {
        await context.close();
      }
    }
  }, 240_000);
});
