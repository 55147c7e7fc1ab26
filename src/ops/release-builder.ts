// Self-update's side of making a release: fetch the branch into a local cache repo, then build the
// commit from that cache with the recipe install.sh uses too (release-build.js).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { simpleGit } from 'simple-git';
import { buildRelease, stageGitCommit } from './release-build.js';
import { releaseName, type ReleaseLayout } from './release-layout.js';

export { DEFAULT_BUILD_STEPS, ReleaseBuildError } from './release-build.js';
export { preparedRelease, releaseName } from './release-layout.js';

/** Fetches `branch` of `remote` into a bare cache repo and returns the commit it points at. */
export async function fetchHead(cacheDir: string, remote: string, branch: string): Promise<string> {
  if (!existsSync(join(cacheDir, 'HEAD'))) {
    mkdirSync(cacheDir, { recursive: true });
    await simpleGit(cacheDir).init(true);
  }
  const git = simpleGit(cacheDir);
  // An explicit refspec keeps every fetched commit reachable in the cache for the build that follows.
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

/** Builds `commit` from the cache into releases/<name>; throws ReleaseBuildError. */
export function prepareRelease(opts: PrepareOptions): Promise<string> {
  return buildRelease({
    layout: opts.layout,
    name: releaseName(opts.commit),
    commit: opts.commit,
    stage: stageGitCommit(opts.cacheDir, opts.commit),
    buildSteps: opts.buildSteps,
    env: opts.env,
    configFile: opts.configFile,
    onStep: opts.onStep,
  });
}
