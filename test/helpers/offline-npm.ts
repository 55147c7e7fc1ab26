// npm without the network, for the tests that build a release (install.sh and self-update run
// `npm ci`, `npm run build`, `npm prune`): npm reads its settings from npm_config_* variables, so the
// environment given to install.sh, to a supervised agent or to prepareRelease() is enough, and
// neither install.sh nor the release builder needs an option for it. Every package comes from the npm
// cache that installed this checkout (`npm ci` fills it; .ci/run runs one before the tests); a package
// missing there fails the build with ENOTCACHED instead of reaching for the registry.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The cache this checkout was installed from: npm's own default unless the environment moved it. */
export const npmCacheDir = process.env.npm_config_cache ?? join(homedir(), '.npm');

/**
 * npm settings for an offline build. `withCache` false leaves the cache to npm's default under HOME: for a
 * build as another user (install-prefix runs as nobody), whose packages are none at all.
 */
export function offlineNpmEnv(withCache = true): Record<string, string> {
  return {
    npm_config_offline: 'true',
    npm_config_update_notifier: 'false',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    ...(withCache ? { npm_config_cache: npmCacheDir } : {}),
  };
}
