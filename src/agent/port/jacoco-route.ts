// POST /v1/coverage/jacoco: a dump from a JaCoCo tcpserver agent, answered as .exec bytes or saved.
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../shared/errors.js';
import { createJacocoHostCheck } from '../tasks/jacoco-hosts.js';
import { dumpJacocoToFile, dumpJacocoToSpool, type SpoolDumpOptions } from '../tasks/jacoco-spool.js';
import type { RouteContext } from './route-context.js';
import { jacocoRequestSchema } from './schemas.js';
import { parseOr400 } from '../../shared/http/validate.js';

export function registerJacocoRoute(app: FastifyInstance, { config, deps, runPool }: RouteContext): void {
  const checkHost = createJacocoHostCheck(config.jacocoHosts);
  const dir = resolve(config.stateDir, 'coverage');

  // Silent while queued and dumping: bounded by jacocoTimeoutSec and the pool, not by the idle timeout.
  app.post('/v1/coverage/jacoco', { config: { handlerTimeoutMs: 0 } }, async (request, reply) => {
    const body = parseOr400(jacocoRequestSchema, request.body);
    // Before a pool slot, a DNS lookup or a socket: the refusal is the same whatever the port.
    const host = checkHost(body.host);

    // A caller that hangs up closes the JaCoCo socket too, instead of finishing a dump nobody reads.
    const gone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) gone.abort();
    });
    const opts: SpoolDumpOptions = {
      host,
      port: body.port,
      reset: body.reset,
      timeoutMs: config.jacocoTimeoutSec * 1000,
      maxBytes: config.jacocoMaxBytes,
      maxProbes: config.jacocoMaxProbes,
      signal: gone.signal,
    };

    const started = performance.now();
    let outcome = 'error';
    try {
      // In the light-task pool with /v1/run: dumps past runConcurrency + runQueue are refused with 429.
      const done = await runPool.run(async () => {
        if (gone.signal.aborted) throw new ValidationError('caller went away before the dump started');
        if (!body.save) return { ...(await dumpJacocoToSpool(opts, dir)), path: undefined };
        await mkdir(dir, { recursive: true });
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        const path = join(dir, `jacoco-${host.replace(/[^A-Za-z0-9.-]/g, '_')}-${body.port}-${stamp}-${randomBytes(3).toString('hex')}.exec`);
        return { dump: await dumpJacocoToFile(opts, path), exec: undefined, path };
      });
      outcome = 'ok';
      const { dump } = done;
      request.log.info({ host, port: body.port, reset: body.reset, sessions: dump.sessions, classes: dump.classes, bytes: dump.bytes }, 'jacoco dump');
      if (done.path !== undefined) return { path: done.path, sessions: dump.sessions, classes: dump.classes, bytes: dump.bytes };
      // No content-length: sent chunked, the client sees the end only once the server has finished the
      // response. With a length it could finish first, and a close() right then found the connection busy
      // and waited out the keep-alive timeout (seen in jacoco-jvm.test.ts).
      return reply
        .type('application/octet-stream')
        .header('content-disposition', `attachment; filename="jacoco-${body.port}.exec"`)
        .header('x-jacoco-sessions', String(dump.sessions))
        .header('x-jacoco-classes', String(dump.classes))
        .send(done.exec);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'OVERLOADED') outcome = 'overloaded';
      else if (code === 'COVERAGE_TOO_LARGE') outcome = 'too_large';
      throw err;
    } finally {
      deps.metrics.lightTaskDuration.labels('jacoco', outcome).observe((performance.now() - started) / 1000);
    }
  });
}
