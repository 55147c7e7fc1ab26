// The shipped scripts/ as heavy jobs on a real agent with the default tasks directory (scripts/tasks.yaml
// saying who runs what) and the operator's settings in its taskEnv: init (as root), deploy from a file://
// artifact as the task user, deploy again with pruning, recycle (as root) back to the baseline; and
// refusals of bad params.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tgz } from '../helpers/archives.js';
import { startJobSystem, type JobSystem } from '../helpers/job-system.js';
import { isAlive } from '../helpers/processes.js';
import { asRoot, killGroup, processesUnder, sha256 } from '../helpers/task-scripts.js';
import { TEST_TASK_USER } from '../helpers/task-user.js';

let sys: JobSystem;
let srv: string;
const user = `hatj${Math.random().toString(36).slice(2, 8)}`;

beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 5000 });
  srv = join(sys.tmp, 'srv');
  mkdirSync(srv, { recursive: true });
  // Unset tasks dir: the agent uses the repo's scripts/. SERVICE_ROOTS reaches them as a setting (taskEnv):
  // nothing of the agent's own environment does.
  await sys.startAgent('scripts-agent', { HTTPAGENT_TASKS_DIR: undefined, HTTPAGENT_TASK_ENV: JSON.stringify({ SERVICE_ROOTS: srv }) });
});
afterAll(async () => {
  for (const p of processesUnder(sys.tmp)) killGroup(p.pgid);
  if (asRoot) execFileSync('sh', ['-c', `userdel -- ${user} 2>/dev/null; groupdel -- ${user} 2>/dev/null; true`]);
  await sys?.stop();
});

describe('scripts/', () => {
  it('init, deploy and recycle a service directory as jobs, then deploy again and prune, then recycle to the baseline', async () => {
    const svc = join(srv, 'svc');
    const body = tgz(join(sys.tmp, 'art'), { 'bin/start': { content: '#!/bin/sh\necho "service started in $(pwd)"\nexec sleep 60\n', mode: 0o755 } });
    const artifact = join(srv, 'app.tgz');
    writeFileSync(artifact, body);
    const deploy = (release: string, extra: Record<string, string> = {}) => ({
      task: 'deploy',
      params: { dir: svc, url: `file://${artifact}`, sha256: sha256(body), release, grace: '1', ...extra },
    });
    if (!asRoot) for (const d of ['releases', 'run', 'shared/logs', 'tmp']) mkdirSync(join(svc, d), { recursive: true });
    if (!asRoot) writeFileSync(join(svc, 'baseline.list'), 'dir releases\ndir shared\ndir shared/logs\ndir run\ndir tmp\n');
    // Deploy runs as the task user: init gives the layout a group of the task user's, writable (2775), as the README says.
    const taskGroup = asRoot ? execFileSync('id', ['-gn', TEST_TASK_USER]).toString().trim() : '';
    const id = await sys.submit({ steps: [...(asRoot ? [{ task: 'init', params: { dir: svc, user, group: taskGroup, mode: '2775' } }] : []), deploy('r1')] });
    const job = await sys.waitFinal(id);
    expect(job.state, await sys.log(id)).toBe('succeeded');
    expect(readlinkSync(join(svc, 'current'))).toBe('releases/r1');
    const pid = Number(readFileSync(join(svc, 'run/service.pid'), 'utf8').split(' ')[0]);
    await sys.waitFor('the service to log', async () => readFileSync(join(svc, 'shared/logs/service.log'), 'utf8').includes('service started'));

    const second = await sys.submit({ steps: [deploy('r2', { keep: '1' })] });
    expect((await sys.waitFinal(second)).state, await sys.log(second)).toBe('succeeded');
    expect(readlinkSync(join(svc, 'current'))).toBe('releases/r2');
    expect(readdirSync(join(svc, 'releases')).filter((r) => !r.startsWith('.'))).toEqual(['r2']);
    expect(await sys.log(second)).toContain(`stopping service group ${pid}`);
    expect(isAlive(pid)).toBe(false);

    const third = await sys.submit({ task: 'recycle', params: { dir: svc, grace: '1' } });
    expect((await sys.waitFinal(third)).state, await sys.log(third)).toBe('succeeded');
    const log = await sys.log(third);
    expect(log).toContain('removed releases/r2');
    expect(log).toMatch(/recycle .*: removed \d+ item\(s\)/);
    expect(existsSync(join(svc, 'current'))).toBe(false);
    expect(processesUnder(svc)).toEqual([]);
  });

  it('refuses bad params with a failed step and a clear message', async () => {
    const id = await sys.submit({ task: 'deploy', params: { dir: 'relative/path', url: 'http://127.0.0.1:1/a.tgz', sha256: '0'.repeat(64) } });
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('failed');
    expect(job.steps[0].exitCode).toBe(2);
    expect(await sys.log(id)).toContain('dir must be an absolute path');
  });

  it('refuses a service directory outside SERVICE_ROOTS', async () => {
    const id = await sys.submit({ task: 'recycle', params: { dir: sys.tmp } });
    const job = await sys.waitFinal(id);
    expect(job.state).toBe('failed');
    expect(await sys.log(id)).toContain('is not inside a service root');
  });

  it('noop runs', async () => {
    const id = await sys.submit({ task: 'noop', params: { message: 'hi there' } });
    expect((await sys.waitFinal(id)).state).toBe('succeeded');
    expect(await sys.log(id)).toContain('hi there\n');
  });
});
