// POST / DELETE /v1/authorize: one SSH public key added to or removed from an allowed user's authorized_keys.
import type { FastifyInstance } from 'fastify';
import { addAuthorizedKey, removeAuthorizedKey } from '../tasks/authorized-keys.js';
import { parseSshPublicKey } from '../tasks/ssh-public-key.js';
import type { RouteContext } from './route-context.js';
import { authorizeRequestSchema } from './schemas.js';
import { parseOr400 } from '../../shared/http/validate.js';

export function registerAuthorizeRoutes(app: FastifyInstance, { config, deps, authorizeHelpers }: RouteContext): void {
  const opts = { allowedUsers: config.authorizeUsers, passwdFile: deps.passwdFile, helpers: authorizeHelpers };
  for (const method of ['POST', 'DELETE'] as const) {
    app.route({
      method,
      url: '/v1/authorize',
      handler: async (request) => {
        const body = parseOr400(authorizeRequestSchema, request.body);
        const key = parseSshPublicKey(body.publicKey);
        const started = performance.now();
        let outcome = 'error';
        try {
          const r = method === 'POST' ? await addAuthorizedKey(body.user, key, opts) : await removeAuthorizedKey(body.user, key, opts);
          outcome = r.status;
          request.log.info({ user: r.user, status: r.status, fingerprint: r.fingerprint }, 'authorized_keys');
          return { user: r.user, status: r.status, fingerprint: r.fingerprint };
        } finally {
          deps.metrics.lightTaskDuration.labels('authorize', outcome).observe((performance.now() - started) / 1000);
        }
      },
    });
  }
}
