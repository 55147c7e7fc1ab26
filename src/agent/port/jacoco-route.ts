// POST /v1/coverage/jacoco: a dump from a JaCoCo tcpserver agent, answered as .exec bytes or saved.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { dumpJacoco } from '../tasks/jacoco-dump.js';
import type { RouteContext } from './route-context.js';
import { jacocoRequestSchema } from './schemas.js';
import { parseOr400 } from '../../shared/http/validate.js';

export function registerJacocoRoute(app: FastifyInstance, { config, deps }: RouteContext): void {
  app.post('/v1/coverage/jacoco', async (request, reply) => {
    const body = parseOr400(jacocoRequestSchema, request.body);
    const started = performance.now();
    let outcome = 'error';
    try {
      const dump = await dumpJacoco({
        host: body.host,
        port: body.port,
        reset: body.reset,
        timeoutMs: config.jacocoTimeoutSec * 1000,
        maxBytes: config.jacocoMaxBytes,
      });
      outcome = 'ok';
      request.log.info({ host: body.host, port: body.port, reset: body.reset, sessions: dump.sessions, classes: dump.classes }, 'jacoco dump');
      if (!body.save) {
        return reply
          .type('application/octet-stream')
          .header('content-disposition', `attachment; filename="jacoco-${body.port}.exec"`)
          .header('x-jacoco-sessions', String(dump.sessions))
          .header('x-jacoco-classes', String(dump.classes))
          .send(dump.exec);
      }
      const dir = resolve(config.stateDir, 'coverage');
      await mkdir(dir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const name = `jacoco-${body.host.replace(/[^A-Za-z0-9.-]/g, '_')}-${body.port}-${stamp}-${randomBytes(3).toString('hex')}.exec`;
      const path = join(dir, name);
      // Written under a temp name and renamed, so a collector never picks up half a file.
      await writeFile(`${path}.tmp`, dump.exec, { mode: 0o644 });
      await rename(`${path}.tmp`, path);
      return { path, sessions: dump.sessions, classes: dump.classes, bytes: dump.exec.length };
    } finally {
      deps.metrics.lightTaskDuration.labels('jacoco', outcome).observe((performance.now() - started) / 1000);
    }
  });
}
