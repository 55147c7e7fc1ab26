// This checkout's committed HEAD, built once per test run into a release directory (npm ci offline,
// build, prune, self-test: what install.sh and self-update do), for the tests that install the real
// agent. A test copies it into its prefix as releases/<first 12 hex of the commit>, the name both
// install.sh and the release builder give it, so install.sh finds it built and goes on to the steps
// under test. Test files run in parallel workers: the first to ask builds under a lock, the others wait.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runDir } from './run-dir.js';
import { DEFAULT_BUILD_STEPS, prepareRelease, releaseName } from '../../src/ops/release-builder.js';
import { releaseLayout } from '../../src/ops/release-layout.js';
import { offlineNpmEnv, runNpmCache } from './offline-npm.js';
import { repoRoot } from './processes.js';
import { WaitAbort, waitUntil } from './wait.js';

const run = promisify(execFile);

export interface CheckoutRelease {
  commit: string;
  /** releases/<name> under a prefix. */
  name: string;
  dir: string;
}

export async function checkoutRelease(): Promise<CheckoutRelease> {
  const commit = (await run('git', ['-C', repoRoot, 'rev-parse', 'HEAD'])).stdout.trim();
  const base = join(runDir(), 'checkout-release');
  const layout = releaseLayout(base);
  const dir = join(layout.releasesDir, releaseName(commit));
  const lock = join(base, 'building');
  const failed = join(base, 'failed');
  mkdirSync(base, { recursive: true });
  let mine = false;
  try {
    mkdirSync(lock); // atomic: one builder per run
    mine = true;
  } catch {
    // another file builds it
  }
  if (mine) {
    try {
      // A local clone shares the object store, so even a detached HEAD's commit is there to check out.
      const cache = join(base, 'source.git');
      await run('git', ['clone', '-q', '--bare', repoRoot, cache]);
      // The self-test needs settings to judge: a throwaway enrollment token and a state dir of the run's own.
      const env = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        HTTPAGENT_ENROLL_TOKEN: 'release-check-enroll-token-0123456789',
        HTTPAGENT_STATE_DIR: join(base, 'self-test-state'),
        ...offlineNpmEnv(await runNpmCache()),
      };
      await prepareRelease({ layout, cacheDir: cache, commit, buildSteps: DEFAULT_BUILD_STEPS, env });
    } catch (err) {
      writeFileSync(failed, String((err as { detail?: string }).detail ?? err));
      throw err;
    }
  } else {
    await waitUntil(
      'the release of this checkout built by another test file',
      () => {
        if (existsSync(failed)) throw new WaitAbort(`building the release failed in another test file:\n${readFileSync(failed, 'utf8')}`);
        return existsSync(join(dir, '.release-ok'));
      },
      { timeoutMs: 600_000, intervalMs: 200 },
    );
  }
  return { commit, name: releaseName(commit), dir };
}

/** Puts the built release into `prefix`/releases (hard links: nothing writes into a built release). */
export async function seedRelease(prefix: string, release: CheckoutRelease): Promise<void> {
  const releases = join(prefix, 'releases');
  mkdirSync(releases, { recursive: true });
  rmSync(join(releases, release.name), { recursive: true, force: true });
  await run('cp', ['-al', release.dir, join(releases, release.name)]);
}
