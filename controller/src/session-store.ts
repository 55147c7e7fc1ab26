// Dashboard sessions: a random id in an HttpOnly cookie, kept in Redis under its SHA-256 (a Redis dump
// holds no usable cookie), with the role it was signed in as and a CSRF token for state-changing calls.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { RedisLike } from './commands.js';
import type { Keys } from './keys.js';

/** admin: signed in with the platform token · viewer: with the viewer token, reads only. */
export const roleSchema = z.enum(['admin', 'viewer']);
export type Role = z.infer<typeof roleSchema>;

const sessionSchema = z.object({ role: roleSchema, csrf: z.string().min(16), expiresAt: z.coerce.number().int() });
export type Session = z.infer<typeof sessionSchema>;

/** Cookie ids are 32 random bytes, base64url: anything else is not looked up. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

const hash = (id: string) => createHash('sha256').update(id).digest('hex');

export function createSessionStore(redis: RedisLike, keys: Keys, opts: { ttlSec: number }) {
  const create = async (role: Role): Promise<Session & { id: string }> => {
    const id = randomBytes(32).toString('base64url');
    const session: Session = { role, csrf: randomBytes(24).toString('base64url'), expiresAt: Date.now() + opts.ttlSec * 1000 };
    await redis.hset(keys.session(hash(id)), 'role', session.role, 'csrf', session.csrf, 'expiresAt', session.expiresAt);
    await redis.expire(keys.session(hash(id)), opts.ttlSec);
    return { id, ...session };
  };

  const get = async (id: string | undefined): Promise<Session | undefined> => {
    if (!id || !SESSION_ID.test(id)) return undefined;
    const h = await redis.hgetall(keys.session(hash(id)));
    const parsed = sessionSchema.safeParse(h);
    return parsed.success ? parsed.data : undefined;
  };

  const destroy = async (id: string | undefined): Promise<void> => {
    if (id && SESSION_ID.test(id)) await redis.del(keys.session(hash(id)));
  };

  return { create, get, destroy };
}
export type SessionStore = ReturnType<typeof createSessionStore>;
