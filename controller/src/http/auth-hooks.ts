// Who may call what on the controller: the platform API takes the platform token, the viewer token (reads)
// or a dashboard session (platform-auth.ts); enroll takes an enrollment token; every other agent API path
// takes the agent's own credential, with every agent id the request names (body, query, path) required to
// be the credential's own.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpAgentError } from '../../../src/shared/errors.js';
import { bearerToken, createTokenListCheck } from '../../../src/shared/http/auth.js';
import { AGENT_API_PREFIX, agentApiPaths } from '../../../src/shared/protocol/agent-api.js';
import { parseCredential } from '../../../src/shared/protocol/identity.js';
import { UnauthorizedError } from '../../../src/shared/errors.js';
import type { CredentialCheck } from '../credential-check.js';
import { hashSecret } from '../credential-store.js';
import type { Caller } from '../lease-store.js';
import type { PlatformAuth } from './platform-auth.js';

export interface AuthOptions {
  /** The platform API's check: platform or viewer token, or a session with its CSRF header. */
  platform: PlatformAuth;
  enrollTokens: readonly string[];
  credentials: CredentialCheck;
  /**
   * Benchmarks only: take the agent id from the credential without checking the secret or the ids the
   * request names, to measure what the checks cost. Set only by code (bench/lib/unchecked-controller.ts):
   * no setting, file or environment variable reaches it.
   */
  skipAgentChecks?: boolean;
}

const callers = new WeakMap<FastifyRequest, Caller>();

/** The agent a request on the agent API speaks for and its secret's hash, as its credential proved. */
export function verifiedCaller(req: FastifyRequest): Caller {
  const caller = callers.get(req);
  // A route of the agent API reached without the hook having run is a bug, never a reason to trust the body.
  if (caller === undefined) throw new HttpAgentError('INTERNAL', 'agent API route reached without a verified caller');
  return caller;
}

/** The agent id a request on the agent API speaks for, as its credential proved. */
export function callerOf(req: FastifyRequest): string {
  return verifiedCaller(req).agentId;
}

export function agentMismatch(what: string, caller: string): HttpAgentError {
  return new HttpAgentError('AGENT_MISMATCH', `${what} is not ${caller}, the agent this credential belongs to`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && !Array.isArray(v);

/**
 * Every agent id a request names, by where: `agentId` at the top of the body, in a complete's `claim`,
 * in the query and among path parameters. Values that are not strings are left to validation (400).
 */
function namedAgentIds(body: unknown, query?: unknown, params?: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const add = (where: string, v: unknown) => {
    if (typeof v === 'string') out.push([where, v]);
  };
  if (isObject(body)) {
    add('body agentId', body.agentId);
    if (isObject(body.claim)) add('body claim.agentId', body.claim.agentId);
  }
  if (isObject(query)) add('query agentId', query.agentId);
  if (isObject(params)) add('path agentId', params.agentId);
  return out;
}

/** A credential speaks for its own agent only: 403 AGENT_MISMATCH for any other id the request names. */
export function assertOwnAgentIds(agentId: string, body: unknown, query?: unknown, params?: unknown): void {
  for (const [where, id] of namedAgentIds(body, query, params)) if (id !== agentId) throw agentMismatch(`the ${where} (${id})`, agentId);
}

export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const enrollAuth = createTokenListCheck(opts.enrollTokens);
  const isAgentPath = (req: FastifyRequest): boolean => {
    // The matched route's pattern, not the raw URL, so an encoded path cannot dodge the right check.
    const path = req.routeOptions.url ?? req.url;
    return path.startsWith(AGENT_API_PREFIX) && path !== agentApiPaths.enroll;
  };

  // onRequest runs before the body is read: an unauthenticated caller cannot make us buffer 16 MiB.
  app.addHook('onRequest', async (req) => {
    const path = req.routeOptions.url ?? req.url;
    if (path === agentApiPaths.enroll) enrollAuth(req.headers.authorization);
    else if (path.startsWith(AGENT_API_PREFIX)) {
      if (opts.skipAgentChecks) {
        const cred = parseCredential(bearerToken(req.headers.authorization) ?? '');
        if (!cred) throw new UnauthorizedError();
        callers.set(req, { agentId: cred.agentId, credentialHash: hashSecret(cred.secret) });
      } else {
        callers.set(req, await opts.credentials.verify(req.headers.authorization));
      }
    } else if (path.startsWith('/v1/')) await opts.platform.authenticate(req);
  });

  // After parsing, before any route: a credential speaks for its own agent only.
  app.addHook('preHandler', async (req) => {
    if (opts.skipAgentChecks || !isAgentPath(req)) return;
    assertOwnAgentIds(callerOf(req), req.body, req.query, req.params);
  });
}
