// Who may call the platform API: the platform token as a bearer (as always), the viewer token as a
// bearer for reads, or a dashboard session cookie, whose state-changing calls must also carry the
// session's CSRF token in x-csrf-token (a cross-site form can send the cookie, never the header).
import { timingSafeEqual } from 'node:crypto';
import { fastifyCookie } from '@fastify/cookie';
import type { FastifyRequest } from 'fastify';
import { HttpAgentError, UnauthorizedError } from '../../../src/shared/errors.js';
import { bearerToken, createTokenMatcher } from '../../../src/shared/http/auth.js';
import type { Role, SessionStore } from '../session-store.js';

export const SESSION_COOKIE = 'httpagent_session';
export const CSRF_HEADER = 'x-csrf-token';

const READS = new Set(['GET', 'HEAD']);

/**
 * The session cookie of a request. Parsed here rather than read from req.cookies: this runs in the
 * root onRequest hook, before the cookie plugin's own hook has parsed anything.
 */
export function sessionCookie(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  return header ? fastifyCookie.parse(header)[SESSION_COOKIE] : undefined;
}

export interface PlatformAuthOptions {
  platformToken: string;
  viewerToken?: string | undefined;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createPlatformAuth(opts: PlatformAuthOptions, sessions: SessionStore) {
  const isPlatform = createTokenMatcher(opts.platformToken);
  const isViewer = opts.viewerToken ? createTokenMatcher(opts.viewerToken) : () => false;

  /** The role a token signs in as, or undefined. Both are compared, so timing tells nothing about which. */
  const roleOfToken = (token: string): Role | undefined => {
    const admin = isPlatform(token);
    const viewer = isViewer(token);
    return admin ? 'admin' : viewer ? 'viewer' : undefined;
  };

  /** Throws 401/403, or returns the caller's role. */
  const authenticate = async (req: FastifyRequest): Promise<Role> => {
    const read = READS.has(req.method);
    let role: Role | undefined;
    if (req.headers.authorization !== undefined) {
      const token = bearerToken(req.headers.authorization);
      role = token === undefined ? undefined : roleOfToken(token);
      if (!role) throw new UnauthorizedError();
    } else {
      const session = await sessions.get(sessionCookie(req));
      if (!session) throw new UnauthorizedError('missing or invalid bearer token or session');
      role = session.role;
      const csrf = req.headers[CSRF_HEADER];
      if (!read && (typeof csrf !== 'string' || !sameText(csrf, session.csrf))) {
        throw new HttpAgentError('CSRF_REQUIRED', `a call that changes something needs the session's ${CSRF_HEADER} header`);
      }
    }
    if (role === 'viewer' && !read) throw new HttpAgentError('READ_ONLY', 'signed in with the viewer token: reads only');
    return role;
  };

  return { authenticate, roleOfToken };
}
export type PlatformAuth = ReturnType<typeof createPlatformAuth>;
