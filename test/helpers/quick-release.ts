// A release directory made in seconds from what the test run already has: the dist/ the globalSetup
// compiled from this working tree, the production packages of node_modules (those package-lock.json does
// not mark dev), scripts, supervisor files, the installer and its plain-JS tools, under a COMMIT of the
// test's choosing. It runs like a built release (same code, same layout, RELEASE_OK), so bundle tests
// pack and install the code under test without the minutes of npm ci and tsc that checkout-release.ts
// spends building a committed HEAD.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RELEASE_OK } from '../../src/ops/release-layout.js';
import { repoRoot } from './processes.js';

const run = promisify(execFile);

/** Top-level packages a production install has: not dev-only per the lockfile. */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; devOptional?: boolean }> };
  return Object.entries(lock.packages)
    .filter(([path, p]) => path.startsWith('node_modules/') && !path.slice('node_modules/'.length).includes('node_modules/') && !p.dev && !p.devOptional)
    .map(([path]) => path);
}

export async function quickRelease(dest: string, commit: string): Promise<string> {
  mkdirSync(join(dest, 'node_modules'), { recursive: true });
  mkdirSync(join(dest, 'controller'), { recursive: true });
  const top = ['dist', 'scripts', 'supervisor', 'src', 'package.json', 'package-lock.json', 'install.sh', 'README.md'].map((p) => join(repoRoot, p));
  await run('cp', ['-a', ...top, dest]);
  await run('cp', ['-a', join(repoRoot, 'controller', 'lua'), join(dest, 'controller')]);
  const pkgs = productionPackages();
  const scoped = new Set(pkgs.filter((p) => p.includes('@')).map((p) => p.split('/')[1]!));
  for (const s of scoped) mkdirSync(join(dest, 'node_modules', s), { recursive: true });
  // One cp per scope level keeps the process count low: plain packages at once, then each scope's.
  const plain = pkgs.filter((p) => !p.includes('@'));
  await run('cp', ['-a', ...plain.map((p) => join(repoRoot, p)), join(dest, 'node_modules')]);
  for (const s of scoped) {
    const inScope = pkgs.filter((p) => p.split('/')[1] === s);
    await run('cp', ['-a', ...inScope.map((p) => join(repoRoot, p)), join(dest, 'node_modules', s)]);
  }
  writeFileSync(join(dest, 'COMMIT'), `${commit}\n`);
  writeFileSync(join(dest, RELEASE_OK), '');
  return dest;
}
