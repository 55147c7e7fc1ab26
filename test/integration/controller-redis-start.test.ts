// First run without Redis: the controller says in one line which Redis it could not reach (without the
// password) and exits 1, with no stack traces unless asked; npm start says which process died and
// shows no banner. Regression: ~30 "[ioredis] Unhandled error event" stacks, no URL, exit after ~24 s,
// and `npm start` printing "httpagent is running" before its controller died.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { repoRoot, spawnHttpagent, track, type Spawned } from '../helpers/processes.js';

/** tsx by path: npm start runs in a directory of its own, where a bare `tsx` does not resolve. */
const TSX = join(repoRoot, 'node_modules/tsx/dist/loader.mjs');
const TOKENS = { HTTPAGENT_PLATFORM_TOKEN: 'platform-token-0123456789abcdef' };
const started: Spawned[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const p of started) if (p.proc.exitCode === null && p.proc.pid) process.kill(-p.proc.pid, 'SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a controller that cannot reach Redis', () => {
  it('one line naming the URL without its password, exit 1, no stack traces', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const p = spawnHttpagent(['controller'], { ...TOKENS, HTTPAGENT_REDIS_URL: `redis://ci:s3cret-pw@127.0.0.1:${port}`, HTTPAGENT_LISTEN: '127.0.0.1:0' });
    started.push(p);
    expect(await p.exited()).toBe(1);
    const out = p.output();
    expect(out).toMatch(new RegExp(`^httpagent: REDIS_UNREACHABLE: cannot reach Redis at redis://ci:\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(HTTPAGENT_REDIS_URL\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${port} \\(\\d+ failed tries in 6 s\\)$`, 'm'));
    expect(out).not.toContain('s3cret-pw');
    expect(out).not.toContain('Unhandled error event');
    expect(out).not.toMatch(/\n\s+at /);
    // Besides that line, at most the one "waiting for Redis" warning.
    expect(out.trim().split('\n').length).toBeLessThanOrEqual(2);
  });

  it('--verbose logs each connection error with its stack', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const p = spawnHttpagent(['controller', '--verbose'], { ...TOKENS, HTTPAGENT_REDIS_URL: `redis://127.0.0.1:${port}`, HTTPAGENT_LISTEN: '127.0.0.1:0' });
    started.push(p);
    expect(await p.exited()).toBe(1);
    expect(p.output()).toMatch(/"msg":"redis connection error"/);
    expect(p.output()).toMatch(/"stack":"Error: connect ECONNREFUSED/);
  });
});

describe('npm start with a Redis it cannot reach', () => {
  it('names the process that died with its last words, shows no banner, exits 1', { timeout: 180_000 }, async () => {
    const port = await freePort();
    const cwd = mkdtempSync(join(tmpdir(), 'httpagent-dev-start-'));
    dirs.push(cwd);
    const proc = spawn(process.execPath, ['--import', TSX, join(repoRoot, 'src/bin/dev-start.ts'), '--port', String(await freePort()), '--agent-port', String(await freePort()), '--redis', `redis://127.0.0.1:${port}`], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const p = track(proc);
    started.push(p);
    expect(await p.exited()).toBe(1);
    // Its last lines come with the news, the one that says why among them.
    expect(p.output()).toMatch(/npm start: controller exited \(1\) before answering \/healthz:\n( {2}.*\n)*? {2}httpagent: REDIS_UNREACHABLE: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
    expect(p.output()).not.toContain('httpagent is running');
  });
});
