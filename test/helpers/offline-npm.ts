// npm without the network, for the tests that build a release (install.sh and self-update run
// `npm ci`, `npm run build`, `npm prune`): npm reads its settings from npm_config_* variables, so the
// environment given to install.sh, to a supervised agent or to prepareRelease() is enough, and
// neither install.sh nor the release builder needs an option for it. Packages come from a copy of the
// npm cache that installed this checkout (`npm ci` fills it; .ci/run runs one before the tests), private
// to the test run: other npm processes on the machine cannot change it under a build, and the build
// cannot change theirs. A package missing there fails the build with ENOTCACHED; no registry is asked.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { runDir } from './run-dir.js';
import { WaitAbort, waitUntil } from './wait.js';

const run = promisify(execFile);

/** The cache this checkout was installed from: npm's own default unless the environment moved it. */
const userCache = process.env.npm_config_cache ?? join(homedir(), '.npm');

/** npm settings for an offline build; without `cacheDir`, npm's default cache under HOME (enough for a package without dependencies). */
export function offlineNpmEnv(cacheDir?: string): Record<string, string> {
  return {
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    ...(cacheDir ? { npm_config_cache: cacheDir } : {}),
  };
}

/** This run's copy of the user's npm cache, made by the first test file that asks (the others wait for it). */
export async function runNpmCache(): Promise<string> {
  const base = join(runDir(), 'npm-cache');
  const ready = join(base, '.ready');
  const failed = join(base, '.failed');
  try {
    mkdirSync(base); // atomic: one copier per run
  } catch {
    await waitUntil(
      'the npm cache copied by another test file',
      () => {
        if (existsSync(failed)) throw new WaitAbort(`copying the npm cache failed in another test file`);
        return existsSync(ready);
      },
      { timeoutMs: 300_000, intervalMs: 200 },
    );
    return base;
  }
  try {
    if (!existsSync(join(userCache, '_cacache'))) throw new Error(`no npm cache at ${userCache}: run npm ci first, it fills the cache the tests build from`);
    await run('cp', ['-a', join(userCache, '_cacache'), join(base, '_cacache')]);
    writeFileSync(ready, '');
  } catch (err) {
    writeFileSync(failed, String(err));
    throw err;
  }
  return base;
}
