// The dashboard in a real browser: Debian's Chromium (started here, driven by playwright-core over CDP),
// the UI built once (by the first test file that needs it) into dist/ui, and axe-core run inside the page.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { isAlive, repoRoot, track } from './processes.js';

export const CHROMIUM = process.env.HTTPAGENT_CHROMIUM ?? '/usr/bin/chromium';
const uiSrc = join(repoRoot, 'controller/ui');
const uiOut = join(repoRoot, 'dist/ui/index.html');
const lock = join(repoRoot, 'dist/.ui-build-lock');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * Builds the UI unless dist/ui is newer than its sources. Test files run two at a time: a directory
 * made atomically is the lock, and the other file waits for it to go.
 */
export async function ensureUiBuilt(): Promise<void> {
  const fresh = () => existsSync(uiOut) && statSync(uiOut).mtimeMs >= Math.max(newest(join(uiSrc, 'src')), statSync(join(uiSrc, 'index.html')).mtimeMs);
  if (fresh()) return;
  mkdirSync(join(repoRoot, 'dist'), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Someone else builds; a lock older than the deadline is a build that died.
      if (Date.now() > deadline || (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 180_000)) rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 500));
      if (fresh()) return;
    }
  }
  try {
    if (!fresh()) execFileSync(process.execPath, [join(repoRoot, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(uiSrc, 'vite.config.ts')], { cwd: repoRoot, stdio: 'pipe' });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The flags every test browser runs with: headless, no sandbox (tests run as root in a container, where
 * Chromium's sandbox cannot start), and nothing that reaches the network or the disk on its own. */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

/**
 * Debian's Chromium in a process group of its own with a fresh profile directory, driven over CDP.
 * Started here rather than by playwright's launch() so the flags and the profile are exactly these and the
 * process is ours to end: close() disconnects, ends the whole group, waits for it and removes the profile.
 */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'httpagent-chromium-'));
  const proc = track(
    spawn(CHROMIUM, [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-port=0', 'about:blank'], {
      env: { PATH: process.env.PATH ?? '', HOME: profile },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    }),
  );
  const end = async () => {
    const pid = proc.proc.pid;
    if (pid !== undefined && isAlive(pid)) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
      const ended = await Promise.race([proc.exited().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      try {
        // Its renderers and helpers share the group: none may outlive the test.
        process.kill(-pid, ended ? 'SIGTERM' : 'SIGKILL');
      } catch {
        // The group is empty.
      }
      await proc.exited();
    }
    rmSync(profile, { recursive: true, force: true });
  };
  let browser: Browser;
  try {
    const line = await proc.waitFor(/DevTools listening on (ws:\/\/\S+)/, 60_000);
    browser = await chromium.connectOverCDP(/ws:\/\/\S+/.exec(line)![0]);
  } catch (err) {
    await end();
    throw err;
  }
  const disconnect = browser.close.bind(browser);
  // A connected (not launched) browser's close() only disconnects: the process is ended here too.
  browser.close = async () => {
    await disconnect().catch(() => undefined);
    await end();
  };
  return browser;
}

export async function newPage(browser: Browser, opts: { width?: number; height?: number; dark?: boolean } = {}): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: opts.width ?? 1280, height: opts.height ?? 900 }, colorScheme: opts.dark ? 'dark' : 'light' });
  const page = await context.newPage();
  const errors: string[] = [];
  // A CSP violation or an uncaught error in the page fails the test that looks at `errors`.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, errors };
}

export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

const axeSource = readFileSync(join(repoRoot, 'node_modules/axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's serious and critical violations on the page as it is now. The script is evaluated through
 * the DevTools protocol: the page's CSP (rightly) refuses an injected <script> element.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  // The function runs in the page, where `axe` and `document` exist; this side has no DOM types.
  const result = await page.evaluate(async () => {
    const g = globalThis as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: AxeViolation[] }> }; document: unknown };
    return g.axe.run(g.document, { resultTypes: ['violations'] });
  });
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target })) }));
}
