// The release channel over HTTP: the platform stores bundles and rolls them out (platform token); agents
// ask which release is theirs and download it (their own credential, under the agent API prefix, so the
// one rule of auth-hooks.ts, the path's prefix decides the credential, holds here too).
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { HttpAgentError } from '../../../src/shared/errors.js';
import { parseOr400 } from '../../../src/shared/http/validate.js';
import { latestQuerySchema, releasePaths, releasePutQuerySchema, releaseVersionSchema, rolloutSchema } from '../../../src/shared/protocol/releases.js';
import type { ReleaseStore } from '../release-store.js';
import { callerOf } from './auth-hooks.js';

const versionParams = z.strictObject({ id: releaseVersionSchema });

export interface ReleaseRouteDeps {
  releases: ReleaseStore;
}

export function releaseRoutes(app: FastifyInstance, deps: ReleaseRouteDeps): void {
  const { releases } = deps;

  app.get(releasePaths.releases, async () => releases.list());

  app.post(releasePaths.rollout.route, async (req) => {
    const { id } = parseOr400(versionParams, req.params, 'params');
    return releases.rollout(id, parseOr400(rolloutSchema, req.body ?? {}, 'body'));
  });

  // The bundle is streamed to a spool file as it arrives: a parser of its own that hands the raw stream on, in a
  // scope of its own so the app's JSON body limit does not apply (releaseMaxBytes does, in the store).
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    scope.put(releasePaths.release.route, async (req, reply) => {
      const { id } = parseOr400(versionParams, req.params, 'params');
      const query = parseOr400(releasePutQuerySchema, req.query, 'query');
      if (!releases.enabled()) throw new HttpAgentError('RELEASES_DISABLED', 'the release channel is off: set releaseDir or releaseS3Endpoint on the controller');
      const body = req.body as Readable | undefined;
      if (!body || typeof body.pipe !== 'function') throw new HttpAgentError('BAD_REQUEST', 'the body must be the bundle');
      const socket = req.socket;
      try {
        return reply.code(201).send(await releases.put(id, body, query));
      } catch (err) {
        // Refused mid-upload (too large, stalled): the rest of the body is never read, so the connection
        // cannot carry another request; it is closed once the refusal is written.
        if (!body.readableEnded) reply.raw.once('finish', () => socket.destroy());
        throw err;
      }
    });
  });

  app.get(releasePaths.latest, async (req) => {
    const q = parseOr400(latestQuerySchema, req.query, 'query');
    return releases.latestFor(callerOf(req), q.channel);
  });

  app.get(releasePaths.bundle.route, async (req, reply) => {
    const { id } = parseOr400(versionParams, req.params, 'params');
    // From the controller's disk or from S3 through the controller: the agent needs no store credentials.
    const bundle = await releases.bundle(id);
    return reply
      .type('application/gzip')
      .header('content-length', String(bundle.size))
      .header('x-bundle-sha256', bundle.sha256)
      .send(bundle.body);
  });
}
