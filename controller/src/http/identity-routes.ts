// Identity on both APIs: enrollment (bearer an enrollment token) mints an agent's credential; the platform
// revokes one (DELETE /v1/agents/:id) and mints short-lived port tokens for one agent.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { NotFoundError } from '../../../src/shared/errors.js';
import { parseOr400 } from '../../../src/shared/http/validate.js';
import { agentApiPaths } from '../../../src/shared/protocol/agent-api.js';
import { agentIdSchema } from '../../../src/shared/protocol/ids.js';
import { enrollRequestSchema, portTokenRequestSchema, type EnrollResponse } from '../../../src/shared/protocol/identity.js';
import { platformApiPaths as paths, type RevokeResponse } from '../../../src/shared/protocol/platform-api.js';
import type { CredentialCheck } from '../credential-check.js';
import type { CredentialStore } from '../credential-store.js';
import type { PortTokenMinter } from '../port-tokens.js';
import type { Revoker } from '../revoker.js';

const agentParams = z.strictObject({ id: agentIdSchema });

export interface IdentityDeps {
  credentials: CredentialStore;
  credentialCheck: CredentialCheck;
  portTokens: PortTokenMinter;
  revoker: Revoker;
}

export function identityRoutes(app: FastifyInstance, deps: IdentityDeps): void {
  app.post(agentApiPaths.enroll, async (req, reply) => {
    const { agentId } = parseOr400(enrollRequestSchema, req.body, 'body');
    const { credential, issuedAt } = await deps.credentials.enroll(agentId);
    req.log.info({ agentId }, 'agent enrolled');
    const body: EnrollResponse = { agentId, credential, issuedAt, portKeys: deps.portTokens.portKeys };
    return reply.code(201).send(body);
  });

  app.delete(paths.agent.route, async (req): Promise<RevokeResponse> => {
    const { id } = parseOr400(agentParams, req.params, 'params');
    const { requeued, cancelled } = await deps.revoker.revoke(id);
    // This controller forgets at once, before it answers; the others hear it through the revocation feed.
    deps.credentialCheck.forget(id);
    req.log.warn({ agentId: id, requeued, cancelled }, 'agent credential revoked');
    return { agentId: id, revoked: true, requeued, cancelled };
  });

  app.post(paths.agentToken.route, async (req) => {
    const { id } = parseOr400(agentParams, req.params, 'params');
    const body = req.body === undefined || req.body === null ? {} : parseOr400(portTokenRequestSchema, req.body, 'body');
    if (!(await deps.credentials.isEnrolled(id))) throw new NotFoundError('AGENT_NOT_FOUND', `agent ${id} holds no live credential (never enrolled, or revoked)`);
    return deps.portTokens.mint(id, body.ttlSec);
  });
}
