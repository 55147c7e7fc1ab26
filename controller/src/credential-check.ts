// Who is calling the agent API: the bearer credential checked against Redis, then remembered in-process
// for a few seconds (keyed by the secret's hash), so a claim or a complete stays one Redis round trip.
// A revocation empties the cache for that agent at once (revocation-feed.ts brings other controllers' word).
import { timingSafeEqual } from 'node:crypto';
import { HttpAgentError, UnauthorizedError } from '../../src/shared/errors.js';
import { bearerToken } from '../../src/shared/http/auth.js';
import { parseCredential } from '../../src/shared/protocol/identity.js';
import type { Logger } from '../../src/shared/log.js';
import { hashSecret, type CredentialStore } from './credential-store.js';
import type { Caller } from './lease-store.js';

export interface CredentialCheckOptions {
  /**
   * How long a verified credential is trusted without asking Redis. It bounds how late a revocation
   * takes effect on a controller that missed the revocation message (its subscriber was cut off).
   */
  cacheMs: number;
  /** lastUsedAt is written at most this often per agent by one controller. */
  touchEveryMs: number;
  /** Cached credentials at most (one per agent normally); the oldest go first. */
  maxEntries: number;
  now?: () => number;
}

export const DEFAULT_CREDENTIAL_CHECK: CredentialCheckOptions = { cacheMs: 5_000, touchEveryMs: 10_000, maxEntries: 100_000 };

export interface CredentialCheck {
  /** The caller (its agent id and its secret's hash), or throws 401 UNAUTHORIZED / CREDENTIAL_REVOKED. */
  verify(authorization: string | undefined): Promise<Caller>;
  /** Drops what this controller trusted for `agentId` (it was just revoked). */
  forget(agentId: string): void;
  /** Drops everything (revocation messages may have been missed). */
  forgetAll(): void;
}

const unauthorized = () => new UnauthorizedError('missing, malformed, unknown or wrong agent credential');

export function createCredentialCheck(store: CredentialStore, opts: CredentialCheckOptions, logger: Logger): CredentialCheck {
  const now = opts.now ?? Date.now;
  /** secret hash → whose it is and until when it is trusted. */
  const cache = new Map<string, { agentId: string; until: number }>();
  /** One Redis read per credential (agent id + secret hash) at a time, however many of its requests arrive meanwhile. */
  const pending = new Map<string, Promise<string>>();
  const touchedAt = new Map<string, number>();
  // Bumped by every forget: a lookup that was in flight across one must not cache what it read before it.
  let generation = 0;

  const touch = (agentId: string, at: number): void => {
    const last = touchedAt.get(agentId);
    if (last !== undefined && at - last < opts.touchEveryMs) return;
    touchedAt.set(agentId, at);
    if (touchedAt.size > opts.maxEntries) touchedAt.delete(touchedAt.keys().next().value!);
    // Not awaited: the request does not wait for bookkeeping, and a lost write only makes lastUsedAt older.
    store.touch(agentId, at).catch((err: Error) => logger.debug({ err: err.message, agentId }, 'could not record a credential use'));
  };

  const lookup = async (agentId: string, hash: string): Promise<string> => {
    const gen = generation;
    const rec = await store.lookup(agentId);
    const given = Buffer.from(hash, 'hex');
    if (rec.live && timingSafeEqual(given, Buffer.from(rec.live.hash, 'hex'))) {
      if (gen === generation) {
        cache.set(hash, { agentId, until: now() + opts.cacheMs });
        if (cache.size > opts.maxEntries) cache.delete(cache.keys().next().value!);
      }
      return agentId;
    }
    if (rec.revokedHash && rec.revokedHash.length === hash.length && timingSafeEqual(given, Buffer.from(rec.revokedHash, 'hex'))) {
      throw new HttpAgentError('CREDENTIAL_REVOKED', `the credential of agent ${agentId} was revoked; stop, and enroll again only when the platform says so`);
    }
    throw unauthorized();
  };

  return {
    async verify(authorization) {
      const token = bearerToken(authorization);
      const cred = token === undefined ? undefined : parseCredential(token);
      if (!cred) throw unauthorized();
      const hash = hashSecret(cred.secret);
      const t = now();
      const hit = cache.get(hash);
      // The id is checked too: `ha1:B:<A's secret>` hashes like A's credential but does not speak for B.
      if (hit && hit.agentId === cred.agentId && hit.until > t) {
        touch(cred.agentId, t);
        return { agentId: cred.agentId, credentialHash: hash };
      }
      if (hit) cache.delete(hash);
      const key = `${cred.agentId}:${hash}`;
      let p = pending.get(key);
      if (!p) {
        p = lookup(cred.agentId, hash).finally(() => pending.delete(key));
        pending.set(key, p);
      }
      const agentId = await p;
      touch(agentId, t);
      return { agentId, credentialHash: hash };
    },
    forget(agentId) {
      generation++;
      for (const [hash, e] of cache) if (e.agentId === agentId) cache.delete(hash);
      touchedAt.delete(agentId);
    },
    forgetAll() {
      generation++;
      cache.clear();
    },
  };
}
