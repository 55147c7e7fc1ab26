// The release channel's store: bundles (spooled as they stream in, bounded, verified with the same
// verifier hosts use, then kept by bundle-blobs.ts on disk or in S3), their records and the channels'
// rollouts in Redis, the cleanup of old releases (releaseKeep), and which release a given agent is
// offered (the canary is decided here, from the agent id's hash and its registered labels).
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { BundleError, releaseId } from '../../src/shared/bundle/bundle-manifest.js';
import { readBundle } from '../../src/shared/bundle/bundle-reader.js';
import { HttpAgentError } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/log.js';
import { releasePaths, type ChannelView, type LatestReply, type ReleaseInfo, type Rollout } from '../../src/shared/protocol/releases.js';
import { bundleName, type BundleBlobs, type StoredBundle } from './bundle-blobs.js';
import type { RedisLike, RunScript } from './commands.js';
import type { Keys } from './keys.js';

export interface ReleaseStoreOptions {
  /** Where bundles are kept; undefined: the release channel is off (503 RELEASES_DISABLED). */
  blobs: BundleBlobs | undefined;
  maxBytes: number;
  /** Releases kept past the channels' latest and previous ones (releaseKeep). */
  keep: number;
  logger: Logger;
  allowedSigners: string | undefined;
  /** An upload that sends nothing for this long is dropped (the controller's server has no request timeout: claims long-poll). */
  idleTimeoutMs?: number;
}

const labels = z.record(z.string(), z.string());
const releaseRecordSchema = z.object({
  version: z.string(),
  commit: z.string(),
  arch: z.string(),
  sha256: z.string(),
  size: z.coerce.number().int(),
  signed: z.enum(['true', 'false']).transform((s) => s === 'true'),
  uploadedAt: z.string(),
});
const channelRecordSchema = z.object({
  latest: z.string(),
  previous: z.string().optional(),
  canaryPercent: z.coerce.number().int(),
  canaryLabels: z.string().transform((s) => labels.parse(JSON.parse(s))),
  maxInFlight: z.coerce.number().int().default(0),
});

/** Releases one cleanup removes at most: each costs a DELETE that may take up to 30 s against S3. */
const PRUNE_LIMIT = 16;
/**
 * A deletion locked longer ago than this was abandoned by its controller (it died), so another cleanup
 * finishes it and an upload of that version may go ahead: well past PRUNE_LIMIT DELETEs of 30 s each.
 */
const PRUNE_STALE_MS = 15 * 60_000;

/**
 * An agent admitted to a bounded rollout that has not arrived on the release after this long gives its
 * place up (a failed self-test, a host gone; offer-release-2.lua): longer than a download, self-test and
 * restart take.
 */
const MOVING_STALE_MS = 10 * 60_000;

/** Which 1% an agent falls in, from its id alone: the same agents are the canary of every rollout. */
export function canaryBucket(agentId: string): number {
  return createHash('sha256').update(agentId).digest().readUInt32BE(0) % 100;
}

function matchesSelector(agentLabels: Record<string, string>, selector: Record<string, string>): boolean {
  const keys = Object.keys(selector);
  return keys.length > 0 && keys.every((k) => agentLabels[k] === selector[k]);
}

export function createReleaseStore(redis: RedisLike, run: RunScript, keys: Keys, opts: ReleaseStoreOptions) {
  const blobs = (): BundleBlobs => {
    if (!opts.blobs) throw new HttpAgentError('RELEASES_DISABLED', 'the release channel is off: set releaseDir or releaseS3Endpoint on the controller');
    return opts.blobs;
  };

  async function getRelease(version: string): Promise<ReleaseInfo | undefined> {
    const hash = await redis.hgetall(keys.release(version));
    if (Object.keys(hash).length === 0) return undefined;
    return releaseRecordSchema.parse(hash);
  }

  async function getChannel(name: string): Promise<ChannelView | undefined> {
    const hash = await redis.hgetall(keys.releaseChannel(name));
    if (Object.keys(hash).length === 0) return undefined;
    const c = channelRecordSchema.parse(hash);
    return { channel: name, latest: c.latest, previous: c.previous ?? null, canaryPercent: c.canaryPercent, canaryLabels: c.canaryLabels, maxInFlight: c.maxInFlight };
  }

  async function rolloutTo(version: string, rollout: Rollout, release?: ReleaseInfo): Promise<{ release: ReleaseInfo; channel: ChannelView }> {
    await run(
      'rolloutRelease',
      [keys.release(version), keys.releaseChannel(rollout.channel), keys.releases, keys.releaseChannels, keys.releaseLocks],
      {
        version,
        channel: rollout.channel,
        canaryPercent: rollout.canaryPercent,
        canaryLabels: JSON.stringify(rollout.canaryLabels),
        maxInFlight: rollout.maxInFlight,
        ...(release ? { release: { ...release, signed: String(release.signed) } } : {}),
      },
      { version },
    );
    const [stored, channel] = await Promise.all([getRelease(version), getChannel(rollout.channel)]);
    if (!stored || !channel) throw new HttpAgentError('INTERNAL', `release ${version} vanished while it was rolled out`);
    return { release: stored, channel };
  }

  /**
   * The cleanup after an upload or a rollout: the script chooses and unlinks the records atomically (a
   * release a channel points to is never chosen), then the bundles are deleted. Its failure fails nothing
   * the caller asked for: it is logged, and a later cleanup finishes the deletion.
   */
  async function prune(): Promise<void> {
    const store = opts.blobs;
    if (!store) return;
    try {
      const { since, removed } = await run('pruneReleases', [keys.base, keys.releases, keys.releaseChannels, keys.releaseLocks], {
        keep: opts.keep,
        limit: PRUNE_LIMIT,
        staleMs: PRUNE_STALE_MS,
      });
      const deleted: string[] = [];
      for (const r of removed) {
        try {
          await store.remove(bundleName(r));
          deleted.push(r.version);
        } catch (err) {
          opts.logger.warn({ version: r.version, code: (err as HttpAgentError).code, reason: (err as Error).message }, 'could not delete an old bundle; a later cleanup tries again');
        }
      }
      if (deleted.length > 0) {
        await run('unlockPrunedReleases', [keys.releaseLocks], { since, versions: deleted });
        opts.logger.info({ removed: deleted, keep: opts.keep }, 'removed old releases');
      }
    } catch (err) {
      opts.logger.warn({ code: (err as HttpAgentError).code, reason: (err as Error).message }, 'the cleanup of old releases failed; the next upload or rollout tries again');
    }
  }

  /** Streams the body to a spool file, verifies it as a bundle of `version`, stores it, then records and rolls it out. */
  async function put(version: string, body: Readable, rollout: Rollout): Promise<{ release: ReleaseInfo; channel: ChannelView }> {
    const store = blobs();
    mkdirSync(store.spoolDir, { recursive: true });
    const upload = join(store.spoolDir, `.upload-${randomBytes(8).toString('hex')}`);
    let bytes = 0;
    let idle: NodeJS.Timeout | undefined;
    const idleMs = opts.idleTimeoutMs ?? 60_000;
    const bound = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        idle?.refresh();
        if (bytes > opts.maxBytes) return cb(new BundleError('BUNDLE_TOO_LARGE', `the bundle is more than releaseMaxBytes (${opts.maxBytes})`));
        cb(null, chunk);
      },
    });
    try {
      idle = setTimeout(() => bound.destroy(new HttpAgentError('BAD_REQUEST', `the upload sent nothing for ${idleMs} ms`)), idleMs);
      await pipeline(body, bound, createWriteStream(upload, { flags: 'wx', mode: 0o640 }));
      clearTimeout(idle);
      const info = await readBundle(upload, { arch: null, maxBytes: opts.maxBytes, ...(opts.allowedSigners ? { allowedSigners: opts.allowedSigners } : {}) });
      const id = releaseId(info.manifest);
      if (id !== version) throw new HttpAgentError('BAD_REQUEST', `the bundle is release ${id}, not ${version}`);
      const release: ReleaseInfo = {
        version,
        commit: info.manifest.commit,
        arch: info.manifest.arch,
        sha256: info.sha256,
        size: info.bytes,
        signed: info.signed,
        uploadedAt: new Date().toISOString(),
      };
      const had = await getRelease(version);
      if (had && had.sha256 !== release.sha256) throw new HttpAgentError('RELEASE_EXISTS', `release ${version} is stored with other content; publish a new version`);
      // Locked before it is written: a cleanup deleting this very name (a re-upload of an old release) is
      // refused here, and none can choose it until the rollout below records it.
      await run('lockReleaseUpload', [keys.releaseLocks], { version, ttlMs: store.maxPutMs(release.size) + 60_000 }, { version });
      // Named by its hash: an upload of other content under the same version can never replace the bundle.
      await store.put(bundleName(release), upload, release);
      const result = await rolloutTo(version, rollout, had ?? release);
      await prune();
      return result;
    } catch (err) {
      if (err instanceof BundleError) throw new HttpAgentError(err.code, err.message, { cause: err });
      throw err;
    } finally {
      clearTimeout(idle);
      rmSync(upload, { force: true });
    }
  }

  async function rolloutStored(version: string, rollout: Rollout) {
    const result = await rolloutTo(version, rollout);
    await prune();
    return result;
  }

  /** The release `agentId` should run on `channel`: latest when it is in the canary (or there is none), else previous. */
  async function latestFor(agentId: string, channelName: string): Promise<LatestReply> {
    const channel = await getChannel(channelName);
    if (!channel) return { channel: channelName, canary: false, release: null };
    let canary = channel.canaryPercent >= 100 || canaryBucket(agentId) < channel.canaryPercent;
    if (!canary && Object.keys(channel.canaryLabels).length > 0) {
      // The labels the agent registered with, not any it claims now.
      const raw = await redis.hget(keys.agent(agentId), 'labels');
      const agentLabels = raw ? labels.safeParse(JSON.parse(raw)) : undefined;
      canary = agentLabels?.success === true && matchesSelector(agentLabels.data, channel.canaryLabels);
    }
    const version = canary ? channel.latest : channel.previous;
    const release = version ? await getRelease(version) : undefined;
    const reply: LatestReply = {
      channel: channelName,
      canary: canary && channel.canaryPercent < 100,
      release: release ? { ...release, path: releasePaths.bundle(release.version) } : null,
    };
    if (release && channel.maxInFlight > 0 && !(await admitted(agentId, channelName, release, channel.maxInFlight))) reply.held = true;
    return reply;
  }

  /** Whether `agentId` may move to `release` now, on a channel that lets `max` agents move at a time. */
  async function admitted(agentId: string, channelName: string, release: ReleaseInfo, max: number): Promise<boolean> {
    const r = await run('offerRelease', [keys.base, keys.releaseMoving(channelName, release.version)], {
      agentId,
      commit: release.commit,
      max,
      staleMs: MOVING_STALE_MS,
      ttlMs: MOVING_STALE_MS * 2,
    });
    return r.admitted;
  }

  /** The bundle for a download, as a stream; RELEASE_NOT_FOUND when unknown or gone from the store. */
  async function bundle(version: string): Promise<StoredBundle & { sha256: string }> {
    const store = blobs();
    const release = await getRelease(version);
    const stored = release ? await store.get(bundleName(release)) : undefined;
    if (!release || !stored) throw new HttpAgentError('RELEASE_NOT_FOUND', `no release ${version} is stored`);
    return { ...stored, sha256: release.sha256 };
  }

  async function list(): Promise<{ releases: ReleaseInfo[]; channels: ChannelView[] }> {
    const versions = await redis.zrange(keys.releases, '0', '-1');
    const releases = (await Promise.all(versions.map(getRelease))).filter((r): r is ReleaseInfo => r !== undefined);
    // SCAN would visit every slot of a Cluster: the rollout script keeps the channel names in a set.
    const names = await redis.smembers(keys.releaseChannels);
    const channels = (await Promise.all(names.map(getChannel))).filter((c): c is ChannelView => c !== undefined);
    return { releases, channels };
  }

  return { put, rollout: rolloutStored, latestFor, bundle, list, enabled: () => opts.blobs !== undefined };
}

export type ReleaseStore = ReturnType<typeof createReleaseStore>;
