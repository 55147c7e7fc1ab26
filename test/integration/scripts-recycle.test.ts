// scripts/recycle on a real service layout under a temp root, with real services started by
// scripts/deploy: the proven process group is stopped (under dash), everything outside the baseline is
// removed and reported, and neither a decoy pid nor a planted symlink nor a dir outside the roots
// leads it to signal or remove anything that is not the service's.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { tgz } from '../helpers/archives.js';
import { isAlive } from '../helpers/processes.js';
import { killGroup, runTask, sha256, shIsDash, startTime, tempRoot } from '../helpers/task-scripts.js';

const t = tempRoot('httpagent-recycle-');
const srv = join(t.root, 'srv');
const outside = join(t.root, 'outside');
const settings = { SERVICE_ROOTS: srv };
const decoys: ChildProcess[] = [];
let app: string;
let n = 0;

const baseline = `# test baseline
dir releases
dir shared
tree shared/config
dir shared/logs
dir run
dir tmp
`;

/** A fresh initialised service directory (the layout init makes, without needing root). */
function freshService(): string {
  const dir = join(srv, `app${++n}`);
  for (const d of ['releases', 'run', 'shared/logs', 'shared/config', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'baseline.list'), baseline);
  writeFileSync(join(dir, 'shared/config/app.conf'), 'kept\n');
  return dir;
}

/** Deploys a release whose bin/start is `start` (through scripts/deploy, as production starts it). */
async function deployService(dir: string, start: string): Promise<number> {
  const body = tgz(join(t.root, 'work', String(++n)), { 'bin/start': { content: start, mode: 0o755 } });
  const file = join(srv, `artifact${n}.tgz`);
  writeFileSync(file, body);
  const r = await runTask('deploy', { dir, url: `file://${file}`, sha256: sha256(body), release: 'r1' }, settings);
  expect(r.code, r.out).toBe(0);
  return Number(readFileSync(join(dir, 'run/service.pid'), 'utf8').split(' ')[0]);
}

async function waitUntil(what: string, probe: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** An unrelated long-running process in its own session and group, working in `outside`. */
function decoy(): number {
  const p = spawn('sleep', ['600'], { cwd: outside, detached: true, stdio: 'ignore' });
  decoys.push(p);
  return p.pid!;
}

beforeEach(() => {
  mkdirSync(outside, { recursive: true });
  app = freshService();
});

afterAll(() => {
  for (const d of decoys) killGroup(d.pid!);
  t.cleanup();
});

describe('scripts/recycle', () => {
  it('runs under dash (the scripts say #!/bin/sh)', () => {
    expect(shIsDash).toBe(true);
  });

  it('stops the proven group under dash (kill -TERM -- -pid did not parse there): a child ignoring SIGTERM gets SIGKILL', async () => {
    const leader = await deployService(app, `#!/bin/sh
sh -c 'trap "" TERM; echo $$ > "$SERVICE_DIR/child.pid"; while :; do sleep 0.2; done' &
exec sleep 600
`);
    await waitUntil('the child to write its pid', () => existsSync(join(app, 'child.pid')));
    const child = Number(readFileSync(join(app, 'child.pid'), 'utf8'));
    const r = await runTask('recycle', { dir: app, grace: '1' }, settings);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`stopping service group ${leader}`);
    expect(r.out).toContain(`group ${leader} ignored SIGTERM for 1s; sending SIGKILL`);
    expect(r.out).toContain(`stopped service group ${leader}`);
    expect(isAlive(leader)).toBe(false);
    expect(isAlive(child)).toBe(false);
  });

  it('removes releases, current, data and scratch, keeps the baseline, and reports each item and a summary', async () => {
    await deployService(app, '#!/bin/sh\nexec sleep 600\n');
    mkdirSync(join(app, 'data/db'), { recursive: true });
    writeFileSync(join(app, 'data/db/rows'), 'x');
    writeFileSync(join(app, 'tmp/scratch'), 'x');
    writeFileSync(join(app, '.hidden'), 'x');
    writeFileSync(join(app, 'shared/logs/service.log.1'), 'x');
    const r = await runTask('recycle', { dir: app, grace: '2' }, settings);
    expect(r.code, r.out).toBe(0);
    const removed = r.out.split('\n').filter((l) => l.startsWith('removed ')).sort();
    expect(removed).toEqual(
      ['current', 'data', '.hidden', 'releases/r1', 'releases/.order', 'run/deploy.lock', 'tmp/scratch', 'shared/logs/service.log', 'shared/logs/service.log.1']
        .map((i) => `removed ${i}`)
        .sort(),
    );
    expect(r.out).toMatch(new RegExp(`recycle ${app}: removed ${removed.length} item\\(s\\), created 0, 0 could not be removed`));
    expect(readFileSync(join(app, 'shared/config/app.conf'), 'utf8')).toBe('kept\n');
    for (const d of ['releases', 'run', 'tmp', 'shared/logs']) expect(lstatSync(join(app, d)).isDirectory()).toBe(true);
    expect(existsSync(join(app, 'baseline.list'))).toBe(true);
    expect(existsSync(join(app, 'current'))).toBe(false);
  });

  it('stops a group whose leader has exited: the members left are proven by session, start time and working directory', async () => {
    const leader = await deployService(app, `#!/bin/sh
sh -c 'echo $$ > "$SERVICE_DIR/child.pid"; exec sleep 600' &
sleep 0.5
`);
    await waitUntil('the leader to exit', () => !isAlive(leader));
    const child = Number(readFileSync(join(app, 'child.pid'), 'utf8'));
    expect(isAlive(child)).toBe(true);
    const r = await runTask('recycle', { dir: app, grace: '2' }, settings);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`stopping service group ${leader} (pids ${child})`);
    expect(isAlive(child)).toBe(false);
  });

  it('creates baseline directories that are missing, parents first', async () => {
    writeFileSync(join(app, 'baseline.list'), `${baseline}dir data/cache/a\n`);
    const r = await runTask('recycle', { dir: app }, settings);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('created data/cache/a');
    expect(lstatSync(join(app, 'data/cache/a')).isDirectory()).toBe(true);
  });
});

describe('scripts/recycle never signals a process it cannot prove is the service', () => {
  it('a decoy pid written alone into the pid file (no start time) is never signalled', async () => {
    const pid = decoy();
    writeFileSync(join(app, 'run/service.pid'), `${pid}\n`);
    const r = await runTask('recycle', { dir: app, grace: '1' }, settings);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`not signalled: pid ${pid} (the pid file records no start time)`);
    expect(isAlive(pid)).toBe(true);
  });

  it('a decoy pid with a start time that is not its own (the service died, its pid was reused) is never signalled', async () => {
    const pid = decoy();
    writeFileSync(join(app, 'run/service.pid'), `${pid} 1\n`);
    const r = await runTask('recycle', { dir: app, grace: '1' }, settings);
    expect(r.out).toContain(`not signalled: pid ${pid} is another process now`);
    expect(isAlive(pid)).toBe(true);
  });

  it('a decoy session leader recorded with its true start time, but running outside the releases, is never signalled', async () => {
    const pid = decoy();
    await waitUntil('the decoy to start', () => isAlive(pid));
    writeFileSync(join(app, 'run/service.pid'), `${pid} ${startTime(pid)}\n`);
    const r = await runTask('recycle', { dir: app, grace: '1' }, settings);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain(`not signalled: pid ${pid} runs from neither`);
    expect(isAlive(pid)).toBe(true);
    expect(existsSync(join(app, 'run/service.pid'))).toBe(false);
  });

  it('deploy will not stop a decoy either when it replaces the service', async () => {
    const pid = decoy();
    await waitUntil('the decoy to start', () => isAlive(pid));
    writeFileSync(join(app, 'run/service.pid'), `${pid} ${startTime(pid)}\n`);
    await deployService(app, '#!/bin/sh\nexec sleep 600\n');
    expect(isAlive(pid)).toBe(true);
  });
});

describe('scripts/recycle removes nothing outside the service directory', () => {
  it('recycle dir=<a dir outside SERVICE_ROOTS> with a tmp/ (which /v1/delete refuses) is refused and nothing is removed', async () => {
    const victim = join(outside, 'victim');
    mkdirSync(join(victim, 'tmp'), { recursive: true });
    writeFileSync(join(victim, 'tmp/precious'), 'x');
    writeFileSync(join(victim, 'baseline.list'), 'dir keep-nothing\n');
    const r = await runTask('recycle', { dir: victim }, settings);
    expect(r.code).toBe(2);
    expect(r.out).toContain('is not inside a service root');
    expect(existsSync(join(victim, 'tmp/precious'))).toBe(true);
  });

  it('a service dir reached through a symlink that leads outside the roots is refused', async () => {
    const victim = join(outside, 'victim2');
    mkdirSync(join(victim, 'tmp'), { recursive: true });
    writeFileSync(join(victim, 'tmp/precious'), 'x');
    writeFileSync(join(victim, 'baseline.list'), 'dir releases\n');
    symlinkSync(victim, join(srv, `link${++n}`));
    const r = await runTask('recycle', { dir: join(srv, `link${n}`) }, settings);
    expect(r.code).toBe(2);
    expect(existsSync(join(victim, 'tmp/precious'))).toBe(true);
  });

  it('planted symlinks are removed as links: their targets, also behind a baseline dir, are untouched', async () => {
    const precious = join(outside, `precious${++n}`);
    mkdirSync(precious);
    writeFileSync(join(precious, 'file'), 'x');
    symlinkSync(precious, join(app, 'tmp/escape'));
    // A baseline directory swapped for a symlink: emptying it would empty the target.
    const logs = join(app, 'shared/logs');
    mkdirSync(join(precious, 'logs'));
    writeFileSync(join(precious, 'logs/important.log'), 'x');
    rmSync(logs, { recursive: true });
    symlinkSync(join(precious, 'logs'), logs);
    const r = await runTask('recycle', { dir: app }, settings);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('removed tmp/escape');
    expect(r.out).toContain('removed shared/logs');
    expect(r.out).toContain('created shared/logs');
    expect(readFileSync(join(precious, 'file'), 'utf8')).toBe('x');
    expect(readFileSync(join(precious, 'logs/important.log'), 'utf8')).toBe('x');
    expect(lstatSync(logs).isDirectory()).toBe(true);
    expect(() => readlinkSync(logs)).toThrow();
  });

  it('a baseline outside SERVICE_ROOTS, or one with a bad line, is refused before anything is touched', async () => {
    writeFileSync(join(app, 'tmp/scratch'), 'x');
    const foreign = join(outside, 'baseline.list');
    writeFileSync(foreign, baseline);
    let r = await runTask('recycle', { dir: app, baseline: foreign }, settings);
    expect(r.code).toBe(2);
    expect(r.out).toContain('is not inside a service root');
    writeFileSync(join(app, 'baseline.list'), `${baseline}dir ../escape\n`);
    r = await runTask('recycle', { dir: app }, settings);
    expect(r.code).toBe(2);
    expect(r.out).toContain('must not hold . or ..');
    expect(existsSync(join(app, 'tmp/scratch'))).toBe(true);
  });
});
