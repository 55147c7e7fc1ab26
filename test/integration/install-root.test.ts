// install.sh as root with supervisor services: a private supervisord (stopped: install.sh must start it)
// whose conf.d is under --system-root, a real service user made by install.sh, and a stub release. Each
// attack seen on the old installer is a test here: values that became code under --dry-run, an uninstall
// that planned `rm -rf -- //etc`, tokens on the command line, root running code and writing through links
// the service user controls. Needs root; skipped otherwise.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { makeStubSource, runInstall, runLines, snapshot, snapshotDiff } from './install-helpers.js';
import { waitUntil } from '../helpers/wait.js';
import { startSupervisord, type PrivateSupervisord } from './ops-helpers.js';

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const ENROLL_TOKEN = 'root-enroll-token-0123456789-abcdefgh';
const USER = `hat${process.pid}`;
const TASK_USER = `hatt${process.pid}`;
const AGENT = 'httpagent:httpagent-agent';
const LONG = 300_000;

let dir: string;
let source: string;
let sysroot: string;
let prefix: string;
let runLog: string;
let sup: PrivateSupervisord;
let port: number;

const base = () => [
  '--prefix', prefix, '--source', source, '--init', 'supervisor', '--supervisor-conf', sup.conf, '--system-root', sysroot,
  '--user', USER, '--task-user', TASK_USER, '--agent-id', 'root-agent', '--listen', `127.0.0.1:${port}`, '--wait-sec', '90', '--supervisor-socket-access',
];
const install = (args: string[], extra: { env?: Record<string, string>; stdin?: string } = {}) =>
  runInstall({ args: [...base(), ...args], env: { HTTPAGENT_INSTALL_NO_GIT: '1', ...extra.env }, ...(extra.stdin !== undefined ? { stdin: extra.stdin } : {}), timeoutMs: LONG });
const ids = async () => ({ uid: Number((await run('id', ['-u', USER])).stdout), gid: Number((await run('id', ['-g', USER])).stdout) });
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe.skipIf(!asRoot)('install.sh as root', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'httpagent-rootinst-'));
    chmodSync(dir, 0o755); // the service user must reach the prefix below it
    runLog = join(dir, 'runs.log');
    writeFileSync(runLog, '');
    chmodSync(runLog, 0o666);
    source = join(dir, 'source');
    makeStubSource(source, { runLog, enrollToken: ENROLL_TOKEN });
    sysroot = join(dir, 'sys');
    prefix = join(dir, 'prefix');
    mkdirSync(join(sysroot, 'etc/supervisor/conf.d'), { recursive: true });
    port = await freePort();
    sup = await startSupervisord(join(dir, 'sup'), [join(sysroot, 'etc/supervisor/conf.d/*.conf')]);
    await sup.shutdown(); // install.sh has to start it
  });

  afterAll(async () => {
    await sup?.shutdown();
    await run('userdel', [USER]).catch(() => undefined);
    await run('userdel', [TASK_USER]).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses values that would become code, before anything runs, even with --dry-run', async () => {
    const marker = join(dir, 'pwned');
    const attempts = [
      { args: [...base(), '--dry-run'], env: { HTTPAGENT_DRAIN_GRACE_SEC: `DRY[$(id>${marker})0]` } },
      { args: ['--prefix', join(dir, `x#;e id>${marker};#`), '--no-service', '--source', source, '--dry-run'] },
      { args: [...base(), '--dry-run', '--agent-id', `a;id>${marker}`] },
      { args: [...base(), '--dry-run', '--labels', `a=$(id>${marker})`] },
      { args: [...base(), '--dry-run', '--controller-url', `http://x/$(id>${marker})`] },
      { args: [...base(), '--dry-run', '--wait-sec', `a[$(id>${marker})]`] },
      { args: [...base(), '--dry-run', '--fail-at-step', `a[$(id>${marker})]`] },
    ];
    for (const a of attempts) {
      const r = await runInstall({ args: a.args, env: { HTTPAGENT_INSTALL_NO_GIT: '1', ...a.env } });
      expect(r.code, r.out).not.toBe(0);
      expect(existsSync(marker), r.out).toBe(false);
    }
    expect(existsSync(prefix)).toBe(false);
  }, LONG);

  it('--uninstall refuses system directories and a prefix without a manifest, even as a dry run', async () => {
    for (const p of ['//', '/', '/etc', '/usr', '/var', '/opt', '/home', '/usr/local', '/var/lib', '/etc/systemd/']) {
      const r = await runInstall({ args: ['--uninstall', '--dry-run', '--prefix', p] });
      expect(r.code, p).toBe(2);
      expect(r.out).toMatch(/refusing prefix/);
      expect(r.out).not.toMatch(/rm -rf/);
    }
    const bare = join(dir, 'not-an-install');
    mkdirSync(join(bare, 'etc'), { recursive: true });
    writeFileSync(join(bare, 'etc/keep'), 'x');
    const none = await runInstall({ args: ['--uninstall', '--prefix', bare] });
    expect(none.code).not.toBe(0);
    expect(none.out).toMatch(/no install manifest/);
    expect(existsSync(join(bare, 'etc/keep'))).toBe(true);
    // A manifest listing something install.sh never makes is refused whole.
    const passwd = sha('/etc/passwd');
    writeFileSync(join(bare, '.install-manifest'), `prefix ${bare}\ndir ${bare}/etc\nfile /etc/passwd\n`);
    const forged = await runInstall({ args: ['--uninstall', '--prefix', bare] });
    expect(forged.code).not.toBe(0);
    expect(forged.out).toMatch(/never makes: refusing/);
    expect(sha('/etc/passwd')).toBe(passwd);
    expect(existsSync(join(bare, 'etc/keep'))).toBe(true);
  }, LONG);

  it('installs: supervisord started, root owns code and config, the agent only var/, the token gone once enrolled', async () => {
    const r = await install(['--enroll-token-file', '-'], { stdin: `${ENROLL_TOKEN}\n` });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/started supervisord \(it was not running\)/);
    expect(r.out).toMatch(/enrolled; the agent answers on/);
    const { uid, gid } = await ids();

    const owner = (p: string) => { const s = lstatSync(p); return [s.uid, s.gid, s.mode & 0o7777]; };
    expect(owner(prefix)).toEqual([0, 0, 0o755]);
    expect(owner(join(prefix, 'releases'))).toEqual([0, 0, 0o755]);
    expect(owner(join(prefix, 'current')).slice(0, 2)).toEqual([0, 0]);
    expect(owner(join(prefix, 'etc'))).toEqual([0, 0, 0o755]);
    expect(owner(join(prefix, 'etc/httpagent.yaml'))).toEqual([0, gid, 0o640]);
    expect(owner(join(prefix, 'var'))).toEqual([uid, gid, 0o700]);
    expect(owner(join(prefix, 'var/credential'))).toEqual([uid, gid, 0o600]);
    expect(owner(join(prefix, 'log'))).toEqual([0, gid, 0o750]);
    const release = join(prefix, readlinkSync(join(prefix, 'current')));
    expect((await run('find', [release, '!', '-uid', '0'])).stdout).toBe('');

    // Root ran nothing of the release: its self-test and the agent (which enrolled) ran as the service user.
    const lines = runLines(runLog);
    expect(lines.filter((l) => l.startsWith('0 '))).toEqual([]);
    expect(lines).toContain(`${uid} agent --self-test --config ${prefix}/etc/httpagent.yaml`);
    // The token: not printed, not on any command line, and in no file once the agent enrolled with it.
    expect(r.out).not.toContain(ENROLL_TOKEN);
    expect(lines.join('\n')).not.toContain(ENROLL_TOKEN);
    expect(existsSync(join(prefix, 'var/enroll-token'))).toBe(false);
    expect((await run('grep', ['-rl', '--', ENROLL_TOKEN, prefix, sysroot]).catch((e: { stdout: string }) => e)).stdout).toBe('');
    // The task user: made, named in the config, an empty home of its own.
    const config = readFileSync(join(prefix, 'etc/httpagent.yaml'), 'utf8');
    expect(config).toContain(`taskUser: "${TASK_USER}"`);
    const taskHome = join(sysroot, 'var/lib', TASK_USER);
    expect(owner(taskHome)).toEqual([Number((await run('id', ['-u', TASK_USER])).stdout), Number((await run('id', ['-g', TASK_USER])).stdout), 0o750]);
    expect((await run('getent', ['passwd', TASK_USER])).stdout.trim()).toBe(`${TASK_USER}:x:${(await run('id', ['-u', TASK_USER])).stdout.trim()}:${(await run('id', ['-g', TASK_USER])).stdout.trim()}::${taskHome}:/usr/sbin/nologin`);

    expect(readFileSync(join(prefix, 'etc/httpagent.yaml'), 'utf8')).toContain(`supervisorConfig: "${sup.conf}"`);
    await waitUntil('the agent RUNNING', async () => (await sup.state(AGENT)) === 'RUNNING');
    // The socket drop-in lets the service user (the monitor, the update guard) ask supervisord.
    const asSvc = await run('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--init-groups', 'supervisorctl', '-c', sup.conf, 'status', AGENT]);
    expect(asSvc.stdout).toMatch(/RUNNING/);
    expect(statSync(join(sysroot, 'usr/local/sbin/httpagent-watchdog')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(sysroot, 'etc/cron.d/httpagent-watchdog'), 'utf8')).toContain(`-s ${sysroot}/var/lib/httpagent-watchdog`);
  }, LONG);

  it('a second run changes nothing and restarts nothing', async () => {
    const pid = (await sup.ctl('pid', AGENT)).out.trim();
    const before = snapshot(prefix, (k) => k.startsWith('log/'));
    const r = await install([]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/nothing changed/);
    expect(snapshotDiff(before, snapshot(prefix, (k) => k.startsWith('log/')))).toEqual([]);
    expect((await sup.ctl('pid', AGENT)).out.trim()).toBe(pid);
  }, LONG);

  it('a re-run never runs code the service user could change, nor writes through links it planted', async () => {
    // The layout of the old installer: the service user owned the prefix. It plants code in the
    // release and links where root used to write.
    const { uid, gid } = await ids();
    const release = join(prefix, readlinkSync(join(prefix, 'current')));
    await run('chown', ['-R', `${uid}:${gid}`, release, join(prefix, 'etc')]);
    const marker = join(dir, 'planted-ran-as');
    writeFileSync(join(release, 'dist/src/bin/httpagent.js'), `import { appendFileSync } from 'node:fs';\nappendFileSync(${JSON.stringify(marker)}, process.getuid() + '\\n');\n`);
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'not yours\n', { mode: 0o600 });
    const victimSha = sha(victim);
    symlinkSync(victim, join(prefix, 'etc/httpagent.yaml.tmp'));
    lchownSync(join(prefix, 'etc/httpagent.yaml.tmp'), uid, gid);
    unlinkSync(join(prefix, 'log/agent.log'));
    symlinkSync(victim, join(prefix, 'log/agent.log'));

    const r = await install(['--labels', 'rack=r9']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/building it again/);
    expect(existsSync(marker) ? readFileSync(marker, 'utf8').split('\n').filter((l) => l === '0') : []).toEqual([]);
    expect((await run('find', [release, '!', '-uid', '0'])).stdout).toBe('');
    expect(lstatSync(join(prefix, 'etc')).uid).toBe(0);
    expect(sha(victim)).toBe(victimSha);
    expect(statSync(victim).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(prefix, 'log/agent.log')).isSymbolicLink()).toBe(false);
    expect(readFileSync(join(prefix, 'etc/httpagent.yaml'), 'utf8')).toContain('labels: "rack=r9"');
    await waitUntil('the agent RUNNING on the rebuilt release', async () => (await sup.state(AGENT)) === 'RUNNING');
  }, LONG);

  it('--uninstall --dry-run changes nothing; --uninstall --purge removes all it listed, the user too', async () => {
    const before = [snapshot(prefix, (k) => k.startsWith('log/')), snapshot(sysroot)];
    const dry = await install(['--uninstall', '--dry-run']);
    expect(dry.code, dry.out).toBe(0);
    expect(dry.out).toMatch(/would: rm -rf -- .*\/releases/);
    expect([snapshot(prefix, (k) => k.startsWith('log/')), snapshot(sysroot)]).toEqual(before);

    const r = await install(['--uninstall', '--purge']);
    expect(r.code, r.out).toBe(0);
    expect(existsSync(prefix)).toBe(false);
    expect(readdirSync(join(sysroot, 'etc/supervisor/conf.d'))).toEqual([]);
    for (const f of ['etc/cron.d/httpagent-watchdog', 'usr/local/sbin/httpagent-watchdog', 'var/lib/httpagent-watchdog']) expect(existsSync(join(sysroot, f)), f).toBe(false);
    expect((await sup.ctl('status')).out).not.toMatch(/httpagent/);
    expect(await run('id', ['-u', USER]).then(() => 'exists', () => 'gone')).toBe('gone');
    expect(await run('id', ['-u', TASK_USER]).then(() => 'exists', () => 'gone')).toBe('gone');
    expect(existsSync(join(sysroot, 'var/lib', TASK_USER))).toBe(false);
  }, LONG);
});

// Issue 10: by default the agent runs as root (so it can start tasks as another account) and its tasks
// as the task user install.sh makes; --uninstall --purge removes that user only when this script made it.
describe.skipIf(!asRoot)('install.sh as root, the default user', () => {
  let d: string;
  let s: PrivateSupervisord;
  let p: string;
  let sys: string;
  let agentPort: number;
  let src: string;
  const made = `hatm${process.pid}`;
  const kept = `hatk${process.pid}`;
  const exists = (name: string) => run('id', ['-u', name]).then(() => true, () => false);
  const inst = (args: string[]) =>
    runInstall({
      args: ['--prefix', p, '--source', src, '--init', 'supervisor', '--supervisor-conf', s.conf, '--system-root', sys,
        '--agent-id', 'root-default', '--listen', `127.0.0.1:${agentPort}`, '--wait-sec', '90', ...args],
      env: { HTTPAGENT_INSTALL_NO_GIT: '1', HTTPAGENT_ENROLL_TOKEN: ENROLL_TOKEN },
      timeoutMs: LONG,
    });

  beforeAll(async () => {
    d = mkdtempSync(join(tmpdir(), 'httpagent-rootdef-'));
    chmodSync(d, 0o755);
    sys = join(d, 'sys');
    p = join(d, 'prefix');
    src = join(d, 'source');
    writeFileSync(join(d, 'runs.log'), '');
    chmodSync(join(d, 'runs.log'), 0o666);
    makeStubSource(src, { runLog: join(d, 'runs.log'), enrollToken: ENROLL_TOKEN });
    mkdirSync(join(sys, 'etc/supervisor/conf.d'), { recursive: true });
    agentPort = await freePort();
    s = await startSupervisord(join(d, 'sup'), [join(sys, 'etc/supervisor/conf.d/*.conf')]);
  });

  afterAll(async () => {
    await s?.shutdown();
    for (const u of [made, kept]) await run('userdel', [u]).catch(() => undefined);
    if (d) rmSync(d, { recursive: true, force: true });
  });

  it('runs the agent as root, makes the task user and names it; --purge removes only a task user it made', async () => {
    const r = await inst(['--task-user', made]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`created system user ${made}`));
    const config = join(p, 'etc/httpagent.yaml');
    expect(readFileSync(config, 'utf8')).toContain(`taskUser: "${made}"`);
    // Root's files only: the config and credential are 0600, nothing the task user can read.
    const st = statSync(config);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([0, 0, 0o600]);
    await waitUntil('the credential', () => existsSync(join(p, 'var/credential')));
    expect(statSync(join(p, 'var/credential')).uid).toBe(0);
    expect(readFileSync(join(sys, 'etc/supervisor/conf.d/httpagent.conf'), 'utf8')).toMatch(/^user=root$/m);
    const pid = Number((await s.ctl('pid', AGENT)).out.trim());
    expect(statSync(`/proc/${pid}`).uid).toBe(0);
    expect(readFileSync(join(p, '.install-manifest'), 'utf8')).toContain(`taskuser ${made} ${sys}/var/lib/${made}`);

    // A plain --uninstall keeps the user; --purge removes it and its home.
    expect((await inst(['--uninstall'])).code).toBe(0);
    expect(await exists(made)).toBe(true);
    const purged = await inst(['--uninstall', '--purge']);
    expect(purged.code, purged.out).toBe(0);
    expect(await exists(made)).toBe(false);
    expect(existsSync(join(sys, 'var/lib', made))).toBe(false);
  }, 2 * LONG);

  it('keeps a task user it did not make, even with --purge', async () => {
    await run('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', kept]);
    const r = await inst(['--task-user', kept]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(new RegExp(`user ${kept} exists`));
    expect(readFileSync(join(p, '.install-manifest'), 'utf8')).not.toMatch(/^taskuser /m);
    const purged = await inst(['--uninstall', '--purge']);
    expect(purged.code, purged.out).toBe(0);
    expect(await exists(kept)).toBe(true);
  }, 2 * LONG);
});
