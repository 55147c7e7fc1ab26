// Agent credentials in Redis: minted at enrollment, stored as the SHA-256 of the secret only, looked up
// when a controller has not seen a credential lately, and listed (issued, last used) for the platform.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { HttpAgentError } from '../../src/shared/errors.js';
import { formatCredential, type CredentialInfo } from '../../src/shared/protocol/identity.js';
import type { RedisLike } from './commands.js';
import type { Keys } from './keys.js';

/** SHA-256 of a credential's secret, hex: what Redis holds and what the in-process cache is keyed by. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

const storedSchema = z.object({ hash: z.string().regex(/^[0-9a-f]{64}$/), issuedAt: z.number().int() });
type Stored = z.infer<typeof storedSchema>;

function parseStored(raw: string | null): Stored | undefined {
  if (raw === null) return undefined;
  try {
    return storedSchema.parse(JSON.parse(raw));
  } catch {
    // Not ours (written by hand?): treated as no credential, so it opens nothing.
    return undefined;
  }
}

/** What a controller learns about an agent's credentials in one read. */
export interface CredentialRecord {
  /** The live credential's hash, when the agent holds one. */
  live?: Stored;
  /** The hash of the credential revoked last, if any. */
  revokedHash?: string;
}

export function createCredentialStore(redis: RedisLike, keys: Keys) {
  /**
   * Mints a credential for `agentId`, unless it holds a live one (409 AGENT_ENROLLED): one SET NX, so two
   * enrollments racing for one id cannot both win and nothing is half written.
   */
  const enroll = async (agentId: string): Promise<{ credential: string; issuedAt: number }> => {
    const secret = randomBytes(32).toString('base64url');
    const issuedAt = Date.now();
    const stored: Stored = { hash: hashSecret(secret), issuedAt };
    const set = await redis.set(keys.credential(agentId), JSON.stringify(stored), 'NX');
    if (set !== 'OK') {
      throw new HttpAgentError('AGENT_ENROLLED', `agent ${agentId} holds a live credential; revoke it first (DELETE /v1/agents/${agentId})`);
    }
    return { credential: formatCredential(agentId, secret), issuedAt };
  };

  /** One MGET (both keys share the slot): the live credential and the last revoked one. */
  const lookup = async (agentId: string): Promise<CredentialRecord> => {
    const [live, revoked] = await redis.mget(keys.credential(agentId), keys.revokedCredential(agentId));
    const parsed = parseStored(live ?? null);
    return { ...(parsed ? { live: parsed } : {}), ...(revoked ? { revokedHash: revoked } : {}) };
  };

  /** Records a use; the caller decides how often (not per request). */
  const touch = async (agentId: string, at: number): Promise<void> => {
    await redis.hset(keys.credentialUse, agentId, String(at));
  };

  /** For GET /v1/agents: each id's credential (null without a live one) and whether its last one was revoked. */
  const describe = async (agentIds: string[]): Promise<Map<string, { credential: CredentialInfo | null; revoked: boolean }>> => {
    const out = new Map<string, { credential: CredentialInfo | null; revoked: boolean }>();
    if (agentIds.length === 0) return out;
    const [live, revoked, used] = await Promise.all([
      redis.mget(...agentIds.map((id) => keys.credential(id))),
      redis.mget(...agentIds.map((id) => keys.revokedCredential(id))),
      redis.hmget(keys.credentialUse, ...agentIds),
    ]);
    agentIds.forEach((id, i) => {
      const stored = parseStored(live[i] ?? null);
      const lastUsed = used[i];
      out.set(id, {
        credential: stored ? { issuedAt: stored.issuedAt, lastUsedAt: lastUsed ? Number(lastUsed) : null } : null,
        revoked: !stored && Boolean(revoked[i]),
      });
    });
    return out;
  };

  /** Whether `agentId` holds a live credential (port tokens are minted only for those). */
  const isEnrolled = async (agentId: string): Promise<boolean> => (await redis.exists(keys.credential(agentId))) === 1;

  return { enroll, lookup, touch, describe, isEnrolled };
}

export type CredentialStore = ReturnType<typeof createCredentialStore>;
