// The README cannot drift: `npm start` (src/bin/dev-start.ts) runs for real in a directory of its own,
// and every ```sh replay block of README.md is run against it in one bash session, as a reader would
// paste them, with the URLs and token npm start printed in place of the README's. Also what npm start
// itself promises: the banner only once everything answers, an example that runs against this agent,
// and no spurious warnings from a monitor that started before the controller.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { isAlive, repoRoot, track, type Spawned } from '../helpers/processes.js';

/** tsx by path: npm start runs in a directory of its own, where a bare `tsx` does not resolve. */
const TSX = join(repoRoot, 'node_modules/tsx/dist/loader.mjs');

let dir: string;
let dev: Spawned;
/** What npm start printed in its banner. */
let printed: { controller: string; agent: string; token: string };

/** The README's ```sh replay blocks, in order. */
export function replayBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh replay\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-readme-'));
  const [port, agentPort] = [await freePort(), await freePort()];
  const proc = spawn(process.execPath, ['--import', TSX, join(repoRoot, 'src/bin/dev-start.ts'), '--port', String(port), '--agent-port', String(agentPort)], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  dev = track(proc);
  await dev.waitFor(/Ctrl-C stops everything/, 150_000);
  const out = dev.output();
  printed = {
    controller: /^ {2}controller {2}(\S+)/m.exec(out)![1]!,
    agent: /^ {2}agent {7}(\S+)/m.exec(out)![1]!,
    token: /^ {2}platform token {2}(\S+)/m.exec(out)![1]!,
  };
}, 180_000);

afterAll(async () => {
  if (dev && dev.proc.exitCode === null) {
    // npm start stops its children itself (agent drain, controller, Redis) on SIGTERM.
    expect(await dev.kill('SIGTERM')).toBe(0);
  }
  // Whatever it started is gone with it: every pid its children logged.
  const pids = [...(dev?.output() ?? '').matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1]));
  for (const pid of new Set(pids)) expect(isAlive(pid), `pid ${pid}`).toBe(false);
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('npm start', () => {
  it('prints the banner only once every process answers, with a console example for this agent', () => {
    const out = dev.output();
    const banner = out.indexOf('httpagent is running:');
    expect(banner).toBeGreaterThan(out.indexOf('"msg":"controller listening"'));
    expect(banner).toBeGreaterThan(out.indexOf('"msg":"registered with the controller"'));
    expect(banner).toBeGreaterThan(out.indexOf('"msg":"monitor started"'));
    expect(out).toMatch(/labels env=dev/);
    expect(out).toMatch(/^ {2}httpagent job submit noop --label env=dev --param message=hello --wait$/m);
    expect(out).toMatch(/^ {2}alias httpagent='node /m);
    // Piped, the children's logs stay JSON lines.
    expect(out).toMatch(/^\{"level":30,.*"name":"controller"/m);
  });

  it('the monitor never found the controller unreachable, and no alert was both "not mailed" and "sent"', () => {
    const out = dev.output();
    expect(out).not.toContain('controller unreachable');
    expect(out).not.toContain('alert mail sent');
    expect(out).not.toMatch(/"check":"cpu"/);
  });
});

describe('README.md', () => {
  it('every ```sh replay block runs against npm start', async () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const blocks = replayBlocks(readme);
    expect(blocks.length).toBeGreaterThanOrEqual(3);
    // `httpagent` on the PATH, as install.sh would put it; here it is the checkout's source.
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'httpagent'), `#!/bin/sh\nexec '${process.execPath}' --import '${TSX}' '${join(repoRoot, 'src/bin/httpagent.ts')}' "$@"\n`);
    chmodSync(join(bin, 'httpagent'), 0o755);
    const demo = join(dir, 'demo');
    // What the README says with its default addresses and a placeholder token, npm start printed for real.
    const substitute = (text: string) =>
      text
        .replaceAll('http://127.0.0.1:9890', printed.controller)
        .replaceAll('http://127.0.0.1:9889', printed.agent)
        .replaceAll('<printed token>', printed.token)
        .replaceAll('/tmp/httpagent-demo', demo);
    const script = ['set -euo pipefail', ...blocks.map((b, i) => `echo "--- README replay block ${i + 1}" >&2\n${substitute(b)}`)].join('\n');
    const bash = spawn('bash', ['-c', script], {
      cwd: dir,
      env: { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '/root' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const run = track(bash);
    const code = await run.exited();
    expect(code, run.output().slice(-3000)).toBe(0);
    // What the blocks show did happen.
    expect(run.output()).toMatch(/job \S+ succeeded in/);
    expect(run.output()).toContain('"code":"NO_MATCHING_AGENT"');
    expect(run.output()).toContain('"retryOf"');
  }, 300_000);
});
