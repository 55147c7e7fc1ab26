// Where the package lives on disk and what version it is, found once from this file's location.
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'controller'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the httpagent package root above ${start}`);
    dir = parent;
  }
}

/** The package root: works from src/ under tsx and from dist/src/ when compiled. */
export const packageRoot = findRoot(dirname(fileURLToPath(import.meta.url)));

const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
export const version: string = pkg.version;

/**
 * The git commit this release was built from, when known: the COMMIT file every release gets
 * (src/ops/release-build.js, for install.sh and self-update alike; shared code cannot import it).
 */
export function readCommit(): string | undefined {
  const file = join(packageRoot, 'COMMIT');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim() || undefined;
  try {
    // A development checkout: releases have no .git.
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: packageRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}
