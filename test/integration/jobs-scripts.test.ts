// The shipped scripts/ as heavy jobs on a real agent with the default tasks directory: init, deploy
// (twice, with pruning), recycle a service, and refusals of bad params.
import { existsSync, mkdirSync, readFileSync, readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobSystem, type JobSystem } from '../helpers/job-system.js';

let sys: JobSystem;
beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 5000 });
  // Unset tasks dir: the agent uses the repo's scripts/.
  await sys.startAgent('scripts-agent', { HTTPAGENT_TASKS_DIR: undefined });
});
afterAll(async () => {
  const pidfile = join(sys.tmp, 'svc/run/service.pid');
  if (existsSync(pidfile)) {
    try {
      process.kill(-Number(readFileSync(pidfile, 'utf8')), 'SIGKILL');
    } catch {
      // already stopped
    }
  }
  await sys?.stop();
});

describe('scripts/', () => {
  it('init, deploy and recycle a service directory as one job, then deploy again and prune', async () => {
    const svc = join(sys.tmp, 'svc');
    const release = join(sys.tmp, 'release-src');
    mkdirSync(join(release, 'bin'), { recursive: true });
    writeFileSync(join(release, 'bin/start'), '#!/bin/sh\necho "service started in $(pwd)"\nexec sleep 60\n', { mode: 0o755 });
    const id = await sys.submit({
      steps: [
        { task: 'init', params: { dir: svc } },
        { task: 'deploy', params: { dir: svc, source: release, release: 'r1' } },
        { task: 'recycle', params: { dir: svc, grace: '1' } },
      ],
    });
    const job = await sys.waitFinal(id);
    expect(job.state, await sys.log(id)).toBe('succeeded');
    expect(readlinkSync(join(svc, 'current'))).toBe('releases/r1');
    const pid = Number(readFileSync(join(svc, 'run/service.pid'), 'utf8'));
    expect(pid).toBeGreaterThan(0);
    await sys.waitFor('the service to log', async () => readFileSync(join(svc, 'shared/logs/service.log'), 'utf8').includes('service started'));

    const second = await sys.submit({
      steps: [
        { task: 'deploy', params: { dir: svc, source: release, release: 'r2', keep: '1' } },
        { task: 'recycle', params: { dir: svc, grace: '1', restart: 'no' } },
      ],
    });
    expect((await sys.waitFinal(second)).state).toBe('succeeded');
    expect(readlinkSync(join(svc, 'current'))).toBe('releases/r2');
    expect(readdirSync(join(svc, 'releases'))).toEqual(['r2']);
    expect(existsSync(join(svc, 'run/service.pid'))).toBe(false);
    expect(await sys.log(second)).toContain(`stopping pid ${pid}`);
  });

  it('refuses bad params with a failed step and a clear message', async () => {
    const id = await sys.submit({ task: 'init', params: { dir: 'relative/path' } });
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('failed');
    expect(job.steps[0].exitCode).toBe(2);
    expect(await sys.log(id)).toContain('dir must be an absolute path');
  });

  it('noop runs', async () => {
    const id = await sys.submit({ task: 'noop', params: { message: 'hi there' } });
    expect((await sys.waitFinal(id)).state).toBe('succeeded');
    expect(await sys.log(id)).toContain('hi there\n');
  });
});
