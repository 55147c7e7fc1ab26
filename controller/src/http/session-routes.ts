// Dashboard sign-in and sign-out: a token (platform or viewer) is exchanged once for a session cookie,
// so the page never keeps a token in script-readable storage. Outside /v1/: these are not platform API.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { HttpAgentError, UnauthorizedError } from '../../../src/shared/errors.js';
import { parseOr400 } from '../../../src/shared/http/validate.js';
import type { SessionStore } from '../session-store.js';
import { CSRF_HEADER, SESSION_COOKIE, type PlatformAuth } from './platform-auth.js';

export const SESSION_PATH = '/auth/session';

const signInSchema = z.strictObject({ token: z.string().min(1).max(512) });

export function sessionRoutes(app: FastifyInstance, deps: { sessions: SessionStore; auth: PlatformAuth; ttlSec: number }): void {
  const { sessions } = deps;
  const cookieOptions = (req: FastifyRequest) => ({
    path: '/',
    httpOnly: true,
    sameSite: 'strict' as const,
    // Secure only where the page is served over TLS: a Secure cookie over plain http is never sent back.
    secure: req.protocol === 'https',
  });
  const view = (s: { role: string; csrf: string; expiresAt: number }) => ({ role: s.role, csrf: s.csrf, expiresAt: new Date(s.expiresAt).toISOString() });

  app.post(SESSION_PATH, async (req: FastifyRequest, reply: FastifyReply) => {
    const { token } = parseOr400(signInSchema, req.body, 'body');
    const role = deps.auth.roleOfToken(token);
    if (!role) throw new UnauthorizedError('that is neither the platform token nor the viewer token');
    const s = await sessions.create(role);
    void reply.setCookie(SESSION_COOKIE, s.id, { ...cookieOptions(req), maxAge: deps.ttlSec });
    return reply.code(201).send(view(s));
  });

  app.get(SESSION_PATH, async (req) => {
    const s = await sessions.get(req.cookies[SESSION_COOKIE]);
    if (!s) throw new UnauthorizedError('not signed in');
    return view(s);
  });

  app.delete(SESSION_PATH, async (req, reply) => {
    const id = req.cookies[SESSION_COOKIE];
    const s = await sessions.get(id);
    if (s) {
      // Signing out is a state change too: a cross-site request must not end someone's session.
      if (req.headers[CSRF_HEADER] !== s.csrf) throw new HttpAgentError('CSRF_REQUIRED', `signing out needs the session's ${CSRF_HEADER} header`);
      await sessions.destroy(id);
    }
    void reply.clearCookie(SESSION_COOKIE, cookieOptions(req));
    return reply.code(204).send();
  });
}
