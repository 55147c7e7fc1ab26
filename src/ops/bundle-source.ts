// Self-update's bundle source (updateSource: bundle): asks the controller's release channel which release
// this agent should run, downloads it (bounded, timed out), checks it is the file the channel announced,
// and unpacks it beside the running release through the verifier install.sh uses, self-tested. A bundle
// refused once (tampered, unsigned, other architecture, a published file cut short) is remembered by its
// sha256: it is alerted about once and never downloaded again. A download that broke off says nothing
// about the bundle (a network cut, a stalled store): it is alerted about once and tried again at each
// tick. A self-test that ran out of time keeps the verified tree, so the next tick only self-tests it
// again. The running release is never touched here.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentConfig } from '../shared/config/agent-config.js';
import { BundleError } from '../shared/bundle/bundle-manifest.js';
import { DownloadError } from '../shared/bundle/bundle-download.js';
import type { Logger } from '../shared/log.js';
import type { LatestReply } from '../shared/protocol/releases.js';
import type { AlertFn } from './ops-mail.js';
import { ReleaseBuildError, selfTestTimeouts } from './release-build.js';
import { preparedRelease, releaseName, type ReleaseLayout } from './release-layout.js';
import { dropVerifiedReleases, selfTestAndName, unpackRelease, verifiedRelease } from './release-unpack.js';
import { REFUSED_BUNDLES_KEPT, readUpdateState, writeUpdateState } from './update-state.js';

/** What the agent's controller client offers (src/agent/controller-client/releases.ts). */
export interface ReleaseChannel {
  latest(channel: string): Promise<LatestReply>;
  download(path: string, dest: string, opts: { maxBytes: number; timeoutMs: number; signal?: AbortSignal }): Promise<{ sha256: string; bytes: number }>;
}

export interface BundleSourceDeps {
  logger: Logger;
  channel: ReleaseChannel;
  alert?: AlertFn | undefined;
  env: Record<string, string | undefined>;
  configFile?: string | undefined;
  stateFile: string;
}

/** ready: unpacked and self-tested, to switch to · otherwise why there is nothing to switch to. */
export type BundleOutcome =
  | { kind: 'ready'; commit: string; dir: string; version: string }
  | { kind: 'up-to-date'; commit: string }
  | { kind: 'known-bad'; commit: string }
  /** The release is this agent's, but the channel has as many agents moving as its rollout allows. */
  | { kind: 'deferred'; commit: string }
  | { kind: 'refused'; commit: string; code: BundleError['code'] | 'CONTROLLER_BAD_REPLY' }
  | { kind: 'failed'; commit: string; code: 'UPDATE_SELF_TEST_FAILED' };

export interface BundleSource {
  prepare(layout: ReleaseLayout, running: string | undefined): Promise<BundleOutcome>;
}

export function createBundleSource(config: AgentConfig, deps: BundleSourceDeps): BundleSource {
  const log = deps.logger.child({ component: 'self-update', source: 'bundle', channel: config.updateChannel });
  // One alert for a channel that answers garbage, until it answers sense again.
  let channelBroken = false;
  /** The release this agent was last told to wait for (bounded rollout), so the wait is logged once. */
  let heldFor: string | undefined;
  // One alert per bundle whose downloads break off, however many ticks it takes to get it whole.
  const brokenDownloads = new Set<string>();
  const timeouts = selfTestTimeouts();

  const alert = async (subject: string, text: string) => {
    await deps.alert?.(subject, text).catch((err: unknown) => log.error({ err }, 'alert mail failed'));
  };

  async function offer(): Promise<LatestReply | { garbage: string }> {
    try {
      const reply = await deps.channel.latest(config.updateChannel);
      channelBroken = false;
      return reply;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'CONTROLLER_BAD_REPLY') throw err; // unreachable, 5xx: next tick
      return { garbage: (err as Error).message };
    }
  }

  /**
   * The bundle's bytes, or a DownloadError (next tick) when the transfer broke off or ended short: the
   * file on the controller may be whole, so it is not refused for that.
   */
  async function downloadWhole(rel: NonNullable<LatestReply['release']>, file: string, rlog: Logger): Promise<{ sha256: string; bytes: number }> {
    let detail: string;
    try {
      const got = await deps.channel.download(rel.path, file, { maxBytes: config.updateBundleMaxBytes, timeoutMs: config.updateDownloadTimeoutSec * 1000 });
      if (got.bytes >= rel.size) {
        brokenDownloads.delete(rel.sha256);
        return got;
      }
      detail = `the download has ${got.bytes} of the ${rel.size} bytes the channel announced`;
    } catch (err) {
      if (!(err instanceof BundleError && err.code === 'BUNDLE_TRUNCATED')) throw err;
      detail = err.message;
    }
    rlog.warn({ code: 'BUNDLE_TRUNCATED', detail }, 'bundle download broke off; trying again at the next tick');
    if (!brokenDownloads.has(rel.sha256)) {
      brokenDownloads.add(rel.sha256);
      await alert(
        `httpagent ${config.agentId}: download of bundle ${rel.version} broke off`,
        `${detail}\n\nThe agent stays on its release and downloads it again at each update tick; no other mail for this bundle.\n`,
      );
    }
    throw new DownloadError(detail, 200);
  }

  async function prepare(layout: ReleaseLayout, running: string | undefined): Promise<BundleOutcome> {
    const o = await offer();
    if ('garbage' in o) {
      log.error({ code: 'CONTROLLER_BAD_REPLY', detail: o.garbage }, 'release channel answered garbage; staying on the current release');
      if (!channelBroken) {
        channelBroken = true;
        await alert(`httpagent ${config.agentId}: release channel ${config.updateChannel} answers garbage`, `${o.garbage}\n\nThe agent stays on its release and asks again at each tick; no other mail until the channel answers sense.\n`);
      }
      return { kind: 'refused', commit: running ?? '', code: 'CONTROLLER_BAD_REPLY' };
    }
    const rel = o.release;
    if (!rel || rel.commit === running) return { kind: 'up-to-date', commit: running ?? '' };
    const state = readUpdateState(deps.stateFile);
    if (state.refusedBundles?.some((r) => r.sha256 === rel.sha256) || state.failed?.commit === rel.commit) {
      log.debug({ version: rel.version }, 'the channel offers a release that failed here before; waiting for a newer one');
      return { kind: 'known-bad', commit: rel.commit };
    }
    if (o.held) {
      // Said once per release: the agent asks at every tick until a place frees up.
      if (heldFor !== rel.version) log.info({ version: rel.version, commit: rel.commit }, 'waiting for a place in the rollout (the channel lets a few agents move at a time)');
      heldFor = rel.version;
      return { kind: 'deferred', commit: rel.commit };
    }
    heldFor = undefined;
    const rlog = log.child({ version: rel.version, commit: rel.commit, canary: o.canary });
    const ready = preparedRelease(layout, rel.commit);
    if (ready) return { kind: 'ready', commit: rel.commit, dir: ready, version: rel.version };

    dropVerifiedReleases(layout, rel.commit);
    const verified = verifiedRelease(layout, rel.commit);
    if (verified) rlog.info({ running, dir: verified }, 'self-testing again the release verified at an earlier tick');
    else rlog.info({ running, size: rel.size }, 'new release on the channel; downloading');
    const dir = join(config.stateDir, 'update');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `bundle-${rel.sha256.slice(0, 16)}.tar.gz`);
    rmSync(file, { force: true });
    try {
      if (verified) {
        const ready = await selfTestAndName({ layout, env: deps.env, configFile: deps.configFile, onStep: (step) => rlog.info({ step }, 'preparing') }, verified, rel.commit);
        return { kind: 'ready', commit: rel.commit, dir: ready, version: rel.version };
      }
      const got = await downloadWhole(rel, file, rlog);
      if (got.sha256 !== rel.sha256) throw new BundleError('BUNDLE_TAMPERED', `the download's sha256 is ${got.sha256}; the channel announced ${rel.sha256}`);
      const r = await unpackRelease({
        layout,
        file,
        allowedSigners: config.updateAllowedSigners,
        env: deps.env,
        configFile: deps.configFile,
        maxBytes: config.updateBundleMaxBytes,
        keepVerifiedOnTimeout: true,
        onStep: (step) => rlog.info({ step }, 'preparing'),
      });
      if (r.info.manifest.commit !== rel.commit) throw new BundleError('BUNDLE_TAMPERED', `the bundle holds commit ${r.info.manifest.commit}; the channel announced ${rel.commit}`);
      return { kind: 'ready', commit: rel.commit, dir: r.dir, version: rel.version };
    } catch (err) {
      if (err instanceof BundleError && err.code !== 'BUNDLE_SIGNERS_UNREADABLE') {
        // A verdict on this file: remembered by its hash, alerted once, never fetched again.
        const s = readUpdateState(deps.stateFile);
        const refused = [...(s.refusedBundles ?? []), { sha256: rel.sha256, version: rel.version, code: err.code, detail: err.message, at: new Date().toISOString() }];
        writeUpdateState(deps.stateFile, { ...s, refusedBundles: refused.slice(-REFUSED_BUNDLES_KEPT) });
        rlog.error({ code: err.code, detail: err.message }, 'bundle refused; staying on the current release');
        await alert(
          `httpagent ${config.agentId}: bundle ${rel.version} refused (${err.code})`,
          `The release channel ${config.updateChannel} offered ${rel.version} (commit ${rel.commit}, sha256 ${rel.sha256}).\n` +
            `It was refused: ${err.code}: ${err.message}\n\nThe agent stays on its release and will not fetch this bundle again.\n`,
        );
        return { kind: 'refused', commit: rel.commit, code: err.code };
      }
      if (err instanceof ReleaseBuildError && err.timedOut && timeouts.tryAgain(rel.commit)) {
        rlog.warn({ code: err.code, detail: err.message }, 'self-test ran out of time; trying the release again at the next tick');
        throw err;
      }
      if (err instanceof ReleaseBuildError) {
        dropVerifiedReleases(layout);
        const s = readUpdateState(deps.stateFile);
        writeUpdateState(deps.stateFile, { ...s, failed: { commit: rel.commit, reason: 'self-test', detail: `${err.message}\n${err.detail}`, at: new Date().toISOString() } });
        rlog.error({ code: err.code, detail: err.detail.slice(-1000) }, 'new release failed its self-test; staying on the current one');
        await alert(`httpagent ${config.agentId}: update to ${releaseName(rel.commit)} failed (self-test)`, `${err.message}\n\n${err.detail}\n`);
        return { kind: 'failed', commit: rel.commit, code: 'UPDATE_SELF_TEST_FAILED' };
      }
      // Not a verdict on the bundle (the controller unreachable, 5xx, a timeout, signers unreadable): next tick.
      if (err instanceof DownloadError || err instanceof BundleError) rlog.warn({ err: err.message }, 'bundle download failed; trying again at the next tick');
      throw err;
    } finally {
      rmSync(file, { force: true });
    }
  }

  return { prepare };
}
