// Turns a git commit into a checked release directory beside the running one: fetch into a local
// cache, check the commit out into a staging dir, install + build there, run its self-test, rename.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { simpleGit } from 'simple-git';
import type { CodeOf } from '../shared/error-codes.js';
import type { ReleaseLayout } from './release-layout.js';

/** Install, build, then drop the dev dependencies the build needed (typescript is one). */
export const DEFAULT_BUILD_STEPS: readonly string[][] = [
  ['npm', 'ci', '--no-audit', '--no-fund'],
  ['npm', 'run', 'build', '--if-present'],
  ['npm', 'prune', '--omit=dev', '--no-audit', '--no-fund'],
];

export class ReleaseBuildError extends Error {
  override name = 'ReleaseBuildError';
  constructor(
    readonly code: CodeOf<'UPDATE_BUILD_FAILED' | 'UPDATE_SELF_TEST_FAILED'>,
    message: string,
    readonly detail: string,
  ) {
    super(message);
  }
}

export const RELEASE_OK = '.release-ok';

/** A release built earlier for `commit` (a switch put off while jobs ran), if it is whole. */
export function preparedRelease(layout: ReleaseLayout, commit: string): string | undefined {
  const dir = join(layout.releasesDir, releaseName(commit));
  if (!existsSync(join(dir, RELEASE_OK))) return undefined;
  try {
    return readFileSync(join(dir, 'COMMIT'), 'utf8').trim() === commit ? dir : undefined;
  } catch {
    return undefined;
  }
}

export function releaseName(commit: string): string {
  return commit.slice(0, 12);
}

/** Fetches `branch` of `remote` into a bare cache repo and returns the commit it points at. */
export async function fetchHead(cacheDir: string, remote: string, branch: string): Promise<string> {
  if (!existsSync(join(cacheDir, 'HEAD'))) {
    mkdirSync(cacheDir, { recursive: true });
    await simpleGit(cacheDir).init(true);
  }
  const git = simpleGit(cacheDir);
  // An explicit refspec keeps every fetched commit reachable in the cache for the clone that follows.
  await git.fetch(['--quiet', '--no-tags', remote, `+refs/heads/${branch}:refs/heads/update-head`]);
  return (await git.revparse(['refs/heads/update-head'])).trim();
}

export interface PrepareOptions {
  layout: ReleaseLayout;
  cacheDir: string;
  commit: string;
  buildSteps: readonly string[][];
  /** Environment and config file for the new release's self-test: the agent's own. */
  env: Record<string, string | undefined>;
  configFile?: string | undefined;
  /** Called with each step for the log. */
  onStep?: (step: string) => void;
}

/**
 * Builds `commit` into releases/<name>. Everything happens in a hidden staging dir that is renamed
 * into place only after the self-test passed, so a half-built release is never visible.
 */
export async function prepareRelease(opts: PrepareOptions): Promise<string> {
  const name = releaseName(opts.commit);
  const finalDir = join(opts.layout.releasesDir, name);
  const staging = join(opts.layout.releasesDir, `.staging-${name}`);
  mkdirSync(opts.layout.releasesDir, { recursive: true });
  rmSync(staging, { recursive: true, force: true });
  try {
    opts.onStep?.('checkout');
    await simpleGit().clone(opts.cacheDir, staging, ['--quiet', '--no-checkout']);
    await simpleGit(staging).checkout(['--quiet', '--detach', opts.commit]);
    rmSync(join(staging, '.git'), { recursive: true, force: true });
    writeFileSync(join(staging, 'COMMIT'), `${opts.commit}\n`);

    for (const [cmd, ...args] of opts.buildSteps) {
      opts.onStep?.([cmd, ...args].join(' '));
      const r = await execa(cmd!, args, { cwd: staging, env: opts.env, extendEnv: false, reject: false, all: true, timeout: 15 * 60_000 });
      if (r.exitCode !== 0) throw new ReleaseBuildError('UPDATE_BUILD_FAILED', `${[cmd, ...args].join(' ')} exited ${r.exitCode ?? r.signal}`, tail(r.all));
    }

    opts.onStep?.('self-test');
    await selfCheck(staging, opts.env, opts.configFile);
    // The same marker install.sh leaves: this directory is whole and passed its self-test.
    writeFileSync(join(staging, RELEASE_OK), '');

    rmSync(finalDir, { recursive: true, force: true });
    renameSync(staging, finalDir);
    return finalDir;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (err instanceof ReleaseBuildError) throw err;
    throw new ReleaseBuildError('UPDATE_BUILD_FAILED', `preparing ${name} failed: ${(err as Error).message}`, (err as Error).message);
  }
}

/** The release's entry point, as the supervisor will run it. */
export function releaseEntry(releaseDir: string): string {
  return join(releaseDir, 'dist', 'src', 'bin', 'httpagent.js');
}

/** `--version` proves the code loads; `agent --self-test` proves it accepts this host's config. */
export async function selfCheck(releaseDir: string, env: Record<string, string | undefined>, configFile?: string): Promise<void> {
  const entry = releaseEntry(releaseDir);
  const runs: string[][] = [['--version'], ['agent', '--self-test', ...(configFile ? ['--config', configFile] : [])]];
  for (const args of runs) {
    const r = await execa(process.execPath, [entry, ...args], { cwd: releaseDir, env, extendEnv: false, reject: false, all: true, timeout: 60_000 });
    if (r.exitCode !== 0) {
      throw new ReleaseBuildError('UPDATE_SELF_TEST_FAILED', `httpagent ${args.join(' ')} exited ${r.exitCode ?? r.signal}`, tail(r.all));
    }
  }
}

function tail(text: string | undefined, max = 2000): string {
  const t = text ?? '';
  return t.length > max ? `…${t.slice(-max)}` : t;
}
