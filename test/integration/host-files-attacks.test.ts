// Attack tests for the agent's file work on the host, as root, over real HTTP against `nobody`: what a
// hostile user can plant in its home is refused, and while it swaps symlinks in a tight loop (a child
// process) hundreds of authorize and delete calls run and nothing outside the user's home and the delete
// roots changes (owner, mode, content, existence). See docs/security.md, "Host file operations".
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, symlinkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentMetrics } from '../../src/agent/agent-metrics.js';
import { buildAgentServer } from '../../src/agent/port/agent-server.js';
import { lookupUser } from '../../src/agent/tasks/passwd.js';
import { sameUserTasks } from '../helpers/task-launcher.js';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { silentLogger } from '../../src/shared/log.js';
import { createPortTokenSigner, ringFor } from '../helpers/port-tokens.js';
import { track, type Spawned } from '../helpers/processes.js';
import { newPublicKey } from '../helpers/ssh-keys.js';

/** A port token for the agent under test, minted in beforeAll. */
let TOKEN = '';
const swapperScript = fileURLToPath(new URL('../fixtures/race/swapper.mjs', import.meta.url));
const tasksDir = fileURLToPath(new URL('../fixtures/http-tasks', import.meta.url));
const asRoot = process.getuid?.() === 0;
/** Hundreds of calls against a tight loop on two shared cores: generous, as it bounds a hang, not a speed. */
const RACE_TIMEOUT_MS = 240_000;
const nobody = asRoot ? await lookupUser('nobody') : undefined;

/** Everything about a path that an attack could change, for a before/after comparison. */
function snapshot(paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (p: string) => {
    const st = lstatSync(p);
    let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} ino=${st.ino} nlink=${st.nlink}`;
    if (st.isFile()) what += ` sha256=${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    if (st.isSymbolicLink()) what += ` -> ${readlinkSync(p)}`;
    out[p] = what;
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  for (const p of paths) visit(p);
  return out;
}

/** Every regular file below `dir`, read as root. */
function filesBelow(dir: string): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    if (st.isFile()) out.push(p);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  if (existsSync(dir)) visit(dir);
  return out;
}

/** The hostile user: swapper.mjs as nobody, in its own process group. */
async function startSwapper(swaps: object[]): Promise<Spawned> {
  const proc = spawn(process.execPath, [swapperScript, JSON.stringify({ swaps })], {
    uid: nobody!.uid,
    gid: nobody!.gid,
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const s = track(proc);
  await s.waitFor(/ready/);
  return s;
}

/** SIGTERM, then the number of swaps it made (printed on the way out). */
async function stopSwapper(s: Spawned): Promise<number> {
  process.kill(-s.proc.pid!, 'SIGTERM');
  const line = await s.waitFor(/\{"swaps":\d+\}/);
  await s.exited();
  return JSON.parse(line).swaps as number;
}

/** `fn` over `items`, at most `width` at a time. */
async function inParallel<T, R>(items: T[], width: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

describe.runIf(asRoot && nobody)('host file operations under a symlink-swapping local user (skipped unless root with a `nobody` account: only root can run the helper as another user)', () => {
  let tmp = '';
  let app: FastifyInstance;
  let base = '';
  const running: Spawned[] = [];
  const passwdFile = () => join(tmp, 'passwd');
  /** Points nobody's passwd entry (the agent's test seam) at `home`; read again on every request. */
  const setHome = (home: string) => writeFileSync(passwdFile(), `nobody:x:${nobody!.uid}:${nobody!.gid}:nobody:${home}:/usr/sbin/nologin\n`);
  /** A fresh home for nobody, owned by it, with an optional ~/.ssh prepared by `plant` (as root). */
  let homes = 0;
  function freshHome(plant?: (home: string, ssh: string) => void): string {
    const home = join(tmp, `home-${++homes}`);
    mkdirSync(home);
    chownSync(home, nobody!.uid, nobody!.gid);
    plant?.(home, join(home, '.ssh'));
    setHome(home);
    return home;
  }
  const own = (...paths: string[]) => paths.forEach((p) => chownSync(p, nobody!.uid, nobody!.gid));
  const authorize = (publicKey: string) => call('POST', '/v1/authorize', { user: 'nobody', publicKey });

  async function call(method: string, path: string, body: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  }

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'httpagent-race-'));
    // nobody must reach its home (and the roots) through the temp directory.
    chmodSync(tmp, 0o755);
    mkdirSync(join(tmp, 'roots/r'), { recursive: true });
    const config = agentConfigSchema.parse({
      agentId: 'race-agent',
      stateDir: join(tmp, 'state'),
      deleteRoots: join(tmp, 'roots/r'),
      authorizeUsers: 'nobody',
    });
    setHome(join(tmp, 'home'));
    const signer = await createPortTokenSigner();
    TOKEN = await signer.mint(config.agentId, { ttlSec: 300 });
    app = buildAgentServer(config, {
      portKeys: await ringFor(tmp, signer),
      logger: silentLogger(),
      metrics: createAgentMetrics({ processMetrics: false }),
      tasks: sameUserTasks(tasksDir, { hostEnv: { PATH: '/usr/bin:/bin' } }),
      jobs: { running: () => 0, draining: () => false, revoked: () => false, controllerReachable: () => true, submitJob: async () => ({ id: 'x' }) },
      version: '0.0.0',
      startedAt: Date.now(),
      passwdFile: passwdFile(),
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });

  afterAll(async () => {
    for (const s of running) if (s.proc.exitCode === null && s.proc.signalCode === null) process.kill(-s.proc.pid!, 'SIGKILL');
    await Promise.all(running.map((s) => s.exited()));
    await app?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  describe('authorize refuses what the user planted, and touches nothing it points at', () => {
    const rootDir = () => join(tmp, 'root-owned');
    let before: Record<string, string> = {};
    beforeAll(() => {
      mkdirSync(rootDir(), { mode: 0o755 });
      writeFileSync(join(rootDir(), 'authorized_keys'), 'root only\n', { mode: 0o600 });
      before = snapshot([rootDir()]);
    });
    afterAll(() => expect(snapshot([rootDir()])).toEqual(before));

    it.each([
      ['~/.ssh is a symlink to a root-owned directory', (_h: string, ssh: string) => symlinkSync(rootDir(), ssh)],
      ['authorized_keys is a symlink to a root-only file', (_h: string, ssh: string) => {
        mkdirSync(ssh, { mode: 0o700 });
        own(ssh);
        symlinkSync(join(rootDir(), 'authorized_keys'), join(ssh, 'authorized_keys'));
      }],
      ['authorized_keys is a FIFO (an open that would block)', (_h: string, ssh: string) => {
        mkdirSync(ssh, { mode: 0o700 });
        execFileSync('mkfifo', [join(ssh, 'authorized_keys')]);
        own(ssh, join(ssh, 'authorized_keys'));
      }],
      ['authorized_keys is a hard link to another of its files', (h: string, ssh: string) => {
        mkdirSync(ssh, { mode: 0o700 });
        writeFileSync(join(h, 'elsewhere'), 'x\n');
        linkSync(join(h, 'elsewhere'), join(ssh, 'authorized_keys'));
        own(ssh, join(h, 'elsewhere'));
      }],
      ['~/.ssh belongs to root', (_h: string, ssh: string) => mkdirSync(ssh, { mode: 0o755 })],
      ['authorized_keys belongs to root', (_h: string, ssh: string) => {
        mkdirSync(ssh, { mode: 0o700 });
        own(ssh);
        writeFileSync(join(ssh, 'authorized_keys'), 'x\n', { mode: 0o644 });
      }],
    ])('409 UNSAFE_SSH_DIR when %s', async (_name, plant) => {
      const home = freshHome(plant);
      const planted = snapshot([home]);
      const r = await authorize(newPublicKey());
      expect(r.status).toBe(409);
      expect(r.json.error.code).toBe('UNSAFE_SSH_DIR');
      expect(snapshot([home])).toEqual(planted);
    });

    it('409 UNSAFE_HOME when the home belongs to a third account, 409 HOME_MISSING when it is not there', async () => {
      const home = freshHome();
      chownSync(home, 54_321, 54_321);
      chmodSync(home, 0o777);
      const r = await authorize(newPublicKey());
      expect([r.status, r.json.error.code]).toEqual([409, 'UNSAFE_HOME']);
      expect(existsSync(join(home, '.ssh'))).toBe(false);
      setHome(join(tmp, 'no-such-home'));
      const missing = await authorize(newPublicKey());
      expect([missing.status, missing.json.error.code]).toEqual([409, 'HOME_MISSING']);
    });

    it('500 AUTHORIZE_FAILED when the user cannot even reach its home (the kernel said no, not us)', async () => {
      const locked = join(tmp, 'locked');
      mkdirSync(join(locked, 'home'), { recursive: true, mode: 0o700 });
      chmodSync(locked, 0o700);
      own(join(locked, 'home'));
      setHome(join(locked, 'home'));
      const r = await authorize(newPublicKey());
      expect([r.status, r.json.error.code]).toEqual([500, 'AUTHORIZE_FAILED']);
      expect(existsSync(join(locked, 'home/.ssh'))).toBe(false);
    });

    it('keeps every existing line byte for byte (options, comments, non-UTF-8), and tightens a loose ~/.ssh to 0700', async () => {
      const latin1 = Buffer.concat([Buffer.from('# caf'), Buffer.of(0xe9), Buffer.from('\n')]);
      const existing = Buffer.concat([latin1, Buffer.from(`restrict,command="echo \\"a b\\"" ${newPublicKey()} with options\n`), Buffer.from('not a key line\n')]);
      const home = freshHome((_h, ssh) => {
        mkdirSync(ssh);
        chmodSync(ssh, 0o777);
        writeFileSync(join(ssh, 'authorized_keys'), existing, { mode: 0o600 });
        own(ssh, join(ssh, 'authorized_keys'));
      });
      const key = newPublicKey('ecdsa-sha2-nistp256', 'new');
      expect((await authorize(key)).json.status).toBe('added');
      const file = join(home, '.ssh/authorized_keys');
      expect(readFileSync(file).equals(Buffer.concat([existing, Buffer.from(`${key}\n`)]))).toBe(true);
      expect(lstatSync(join(home, '.ssh')).mode & 0o7777).toBe(0o700);
      expect([lstatSync(file).uid, lstatSync(file).mode & 0o7777]).toEqual([nobody!.uid, 0o600]);
    });
  });

  it('authorize: ~/.ssh and authorized_keys swapped for symlinks to root-owned places never reach them (attack: a root 0755 dir became nobody 0700; a root-only file was copied into the home)', async () => {
    const home = freshHome();
    const victimDir = join(tmp, 'victim-dir');
    mkdirSync(victimDir, { mode: 0o755 });
    chmodSync(victimDir, 0o755);
    writeFileSync(join(victimDir, 'authorized_keys'), `${newPublicKey()} ROOT-DIR-MARKER\n`, { mode: 0o644 });
    const secret = join(tmp, 'secret');
    writeFileSync(secret, `${newPublicKey()} SECRET-MARKER\n`, { mode: 0o600 });
    const before = snapshot([victimDir, secret]);

    const ssh = join(home, '.ssh');
    const swapper = await startSwapper([
      { path: ssh, link: victimDir },
      { path: join(ssh, 'authorized_keys'), link: secret },
      { path: join(ssh, 'authorized_keys'), link: join(victimDir, 'authorized_keys') },
      { path: join(ssh, 'authorized_keys'), hardlink: secret },
    ]);
    running.push(swapper);

    const keys = Array.from({ length: 20 }, (_, i) => newPublicKey('ssh-ed25519', `race-${i}`));
    const calls = Array.from({ length: 300 }, (_, i) => ({ method: i % 3 === 2 ? 'DELETE' : 'POST', key: keys[i % keys.length]! }));
    const answers = await inParallel(calls, 8, (c) => call(c.method, '/v1/authorize', { user: 'nobody', publicKey: c.key }));
    const swaps = await stopSwapper(swapper);

    const seen = answers.map((a, i) => `${calls[i]!.method} ${a.status === 200 ? a.json.status : `${a.status} ${a.json.error.code}`}`);
    const tally = seen.reduce<Record<string, number>>((t, s) => ({ ...t, [s]: (t[s] ?? 0) + 1 }), {});
    const why = JSON.stringify({ tally, failures: answers.filter((a) => a.status >= 500).map((a) => a.json.error.message) });
    expect(swaps, 'the swapper must really have raced').toBeGreaterThan(100);
    // Only outcomes that name what happened: done, or refused because of what the user planted.
    const allowed = ['POST added', 'POST present', 'POST 409 UNSAFE_SSH_DIR', 'DELETE removed', 'DELETE absent', 'DELETE 409 UNSAFE_SSH_DIR'];
    for (const s of Object.keys(tally)) expect(allowed, why).toContain(s);
    expect(tally['POST added'] ?? 0, why).toBeGreaterThan(0);

    expect(snapshot([victimDir, secret])).toEqual(before);
    for (const f of filesBelow(home)) {
      const text = readFileSync(f, 'utf8');
      expect(text, f).not.toContain('SECRET-MARKER');
      expect(text, f).not.toContain('ROOT-DIR-MARKER');
    }
    for (const [p] of Object.entries(snapshot([home]))) expect(lstatSync(p).uid, p).toBe(nobody!.uid);

    // With the attacker gone, the same home takes a key normally.
    rmSync(ssh, { recursive: true, force: true });
    for (const n of readdirSync(home)) rmSync(join(home, n), { recursive: true, force: true });
    const key = newPublicKey('ssh-ed25519', 'after');
    expect((await call('POST', '/v1/authorize', { user: 'nobody', publicKey: key })).json.status).toBe('added');
    expect(readFileSync(join(ssh, 'authorized_keys'), 'utf8')).toBe(`${key}\n`);
    expect(lstatSync(join(ssh, 'authorized_keys')).uid).toBe(nobody!.uid);
    expect(lstatSync(ssh).mode & 0o7777).toBe(0o700);
  }, RACE_TIMEOUT_MS);

  it('delete: directories in the tree swapped for symlinks, or moved out, mid-deletion never let it delete outside the root (attack: 1 victim in 20 deleted)', async () => {
    const root = join(tmp, 'roots/r');
    const outside = join(tmp, 'outside');
    mkdirSync(join(outside, 'sub'), { recursive: true });
    for (let i = 0; i < 20; i++) writeFileSync(join(outside, `victim-${i}`), `victim ${i}\n`, { mode: 0o644 });
    for (let i = 0; i < 5; i++) writeFileSync(join(outside, 'sub', `victim-${i}`), `sub victim ${i}\n`, { mode: 0o644 });
    // Where nobody may move a directory it owns to: out of the root, into its own place.
    const away = join(tmp, 'nobody-away');
    mkdirSync(away);
    chownSync(away, nobody!.uid, nobody!.gid);
    // nobody owns its build tree in the root, as a platform account would.
    const target = join(root, 't');
    const before = snapshot([outside]);

    const swapper = await startSwapper([
      { path: join(target, 'a'), link: outside },
      { path: join(target, 'a/b'), link: outside },
      { path: join(target, 'a/b'), link: join(outside, 'sub') },
      { path: join(target, 'a'), moveTo: join(away, 'a') },
    ]);
    running.push(swapper);

    const results: string[] = [];
    for (let i = 0; i < 300; i++) {
      // Built aside and renamed into place: the swapper only ever touches t/, never the staging tree.
      const stage = join(root, `stage-${i}`);
      mkdirSync(join(stage, 'a/b'), { recursive: true });
      for (let f = 0; f < 5; f++) {
        // Named like the victims in outside/sub: a swapped parent would point the same name at one.
        writeFileSync(join(stage, 'a/b', `victim-${f}`), 'x');
        writeFileSync(join(stage, 'a', `g${f}`), 'x');
      }
      for (const p of [stage, join(stage, 'a'), join(stage, 'a/b')]) chownSync(p, nobody!.uid, nobody!.gid);
      if (existsSync(target)) renameSync(target, join(root, `left-${i}`));
      renameSync(stage, target);
      // One file through the parent chain the swapper attacks, then the whole tree.
      const r = await call('POST', '/v1/delete', { paths: [join(target, `a/b/victim-${i % 5}`), target] });
      expect(r.status).toBe(200);
      for (const res of r.json.results) results.push(res.status === 'refused' ? `refused ${res.reason}` : res.status);
    }
    const swaps = await stopSwapper(swapper);

    const tally = results.reduce<Record<string, number>>((t, s) => ({ ...t, [s]: (t[s] ?? 0) + 1 }), {});
    expect(swaps, 'the swapper must really have raced').toBeGreaterThan(100);
    // OUTSIDE_ROOTS / missing: the file's parent was a link out (or gone) when its path was resolved.
    for (const s of Object.keys(tally)) expect(['deleted', 'missing', 'refused CHANGED', 'refused OUTSIDE_ROOTS'], JSON.stringify(tally)).toContain(s);
    expect(tally.deleted ?? 0, JSON.stringify(tally)).toBeGreaterThan(0);
    expect(snapshot([outside])).toEqual(before);
  }, RACE_TIMEOUT_MS);
});
