// A release directory made in seconds from what the test run already has: the dist/ the globalSetup
// built from this working tree (process entries with their dependencies compiled in, as a release has
// them), scripts, supervisor files, the installer and its plain-JS tools, under a COMMIT of the test's
// choosing. It runs like a built release (same code, same layout, RELEASE_OK), so bundle tests pack and
// install the code under test without the minutes of npm ci, tsc and Vite a real build spends (the one
// real build left in the suite is the agent's own, in update-real-agent.test.ts). No node_modules: a
// bundle has none, and nothing a release runs needs one.
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RELEASE_OK, releaseName } from '../../src/ops/release-layout.js';
import { repoRoot } from './processes.js';

const run = promisify(execFile);

export async function quickRelease(dest: string, commit: string): Promise<string> {
  mkdirSync(join(dest, 'controller'), { recursive: true });
  const top = ['dist', 'scripts', 'supervisor', 'src', 'package.json', 'package-lock.json', 'install.sh', 'README.md'].map((p) => join(repoRoot, p));
  await run('cp', ['-a', ...top, dest]);
  await run('cp', ['-a', join(repoRoot, 'controller', 'lua'), join(dest, 'controller')]);
  writeFileSync(join(dest, 'COMMIT'), `${commit}\n`);
  writeFileSync(join(dest, RELEASE_OK), '');
  return dest;
}

/** This checkout's HEAD as `prefix`/releases/<name>: install.sh --source at that commit finds it built. */
export async function seedHeadRelease(prefix: string): Promise<{ commit: string; dir: string }> {
  const commit = (await run('git', ['-C', repoRoot, 'rev-parse', 'HEAD'])).stdout.trim();
  return { commit, dir: await quickRelease(join(prefix, 'releases', releaseName(commit)), commit) };
}
