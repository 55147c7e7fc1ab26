// scripts/deploy and scripts/rollback on a real service layout under a temp root: artifacts fetched from
// a real HTTP server on 127.0.0.1, a real service (node) started from the release and health-checked over
// HTTP, and every hostile artifact refused with nothing installed and nothing written outside.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tgz, tgzRawNames, tgzWriteThrough, writeTree, zip, type Tree } from '../helpers/archives.js';
import { freePort } from '../helpers/ports.js';
import { isAlive } from '../helpers/processes.js';
import { runTask, sha256, shIsDash, startFileServer, tempRoot, type FileServer } from '../helpers/task-scripts.js';

const t = tempRoot('httpagent-deploy-');
const root = t.root;
const srv = join(root, 'srv');
const app = join(srv, 'app');
const outside = join(root, 'outside');
const settings = { SERVICE_ROOTS: srv };
const haveUnzip = execFileSync('sh', ['-c', 'command -v unzip || true']).toString() !== '';
let files: FileServer;
let port: number;
let n = 0;

// The service: answers /health with 200 when its rendered config says healthy, and / with its version.
const server = `import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
const cfg = JSON.parse(readFileSync('config/app.json', 'utf8'));
createServer((req, res) => {
  if (req.url === '/health') res.statusCode = cfg.healthy === 'yes' ? 200 : 500;
  res.end(cfg.version);
}).listen(cfg.port, '127.0.0.1', () => console.log('listening on', cfg.port, 'as', cfg.version));
process.on('SIGTERM', () => process.exit(0));
`;
const release: Tree = {
  'bin/start': { content: '#!/bin/sh\nexec node server.mjs\n', mode: 0o755 },
  'bin/health': { content: '#!/bin/sh\ntest -s config/app.json\n', mode: 0o755 },
  'server.mjs': server,
  'config/app.json.tmpl': '{"port": {{PORT}}, "healthy": "{{healthy}}", "version": "{{VERSION}}"}\n',
  'config/note.txt.tmpl': 'note={{NOTE}}\n',
};

/** Serves `body` at a fresh path and returns the deploy params for it. */
function publish(body: Buffer, ext = '.tgz'): { url: string; sha256: string } {
  const path = `/artifacts/a${++n}${ext}`;
  files.routes.set(path, body);
  return { url: `${files.url}${path}`, sha256: sha256(body) };
}

function work(): string {
  const dir = join(root, 'work', String(++n));
  mkdirSync(dir, { recursive: true });
  return dir;
}

function deploy(params: Record<string, string>, extra: Record<string, string> = {}) {
  return runTask('deploy', { dir: app, PORT: String(port), healthy: 'yes', NOTE: '-', health_url: `http://127.0.0.1:${port}/health`, health_interval: '0.2', health_retries: '25', grace: '2', ...params }, { ...settings, ...extra });
}

async function answer(path = '/'): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return `${res.status} ${await res.text()}`;
}

const live = () => readlinkSync(join(app, 'current'));
const servicePid = () => Number(readFileSync(join(app, 'run/service.pid'), 'utf8').split(' ')[0]);
const leftovers = () => readdirSync(join(app, 'releases')).filter((f) => f.endsWith('.partial') || f.endsWith('.download'));

beforeAll(async () => {
  files = await startFileServer();
  port = await freePort();
  for (const d of ['releases', 'run', 'shared/logs', 'shared/config', 'tmp']) mkdirSync(join(app, d), { recursive: true });
  mkdirSync(outside, { recursive: true });
});

afterAll(async () => {
  await files?.close();
  t.cleanup();
});

describe('scripts/deploy', () => {
  it('runs under dash (the scripts say #!/bin/sh)', () => {
    expect(shIsDash).toBe(true);
  });

  it('fetches over HTTP, checks the sha256, renders templates literally, switches current and starts a healthy service', async () => {
    const hostile = `a&b\\1 $(touch ${outside}/injected) \`id\` "q" /x/ {{PORT}} %s`;
    const r = await deploy({ ...publish(tgz(work(), release)), release: 'r1', VERSION: 'v1', NOTE: hostile });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('sha256');
    expect(r.out).toContain('healthy after');
    expect(live()).toBe('releases/r1');
    expect(await answer()).toBe('200 v1');
    expect(readFileSync(join(app, 'releases/r1/config/note.txt'), 'utf8')).toBe(`note=${hostile}\n`);
    expect(existsSync(join(outside, 'injected'))).toBe(false);
    expect(readFileSync(join(app, 'shared/logs/service.log'), 'utf8')).toContain('listening on');
  });

  it('an unhealthy release is rolled back by itself: current switched back, the old release restarted, the task fails saying so', async () => {
    const before = servicePid();
    const r = await deploy({ ...publish(tgz(work(), release)), release: 'r2', VERSION: 'v2', healthy: 'no', health_retries: '5' });
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('release r2 is unhealthy: rolling back');
    expect(r.out).toContain('rolled back to r1 (healthy)');
    expect(r.out).toContain('removed the unhealthy release r2');
    expect(live()).toBe('releases/r1');
    expect(existsSync(join(app, 'releases/r2'))).toBe(false);
    expect(await answer('/health')).toBe('200 v1');
    expect(servicePid()).not.toBe(before);
    expect(isAlive(before)).toBe(false);
  });

  it('a release whose service does not even start is rolled back as well', async () => {
    const broken = { ...release, 'bin/start': { content: '#!/bin/sh\nexit 3\n', mode: 0o755 } };
    const r = await deploy({ ...publish(tgz(work(), broken)), release: 'broken', VERSION: 'vb' });
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('rolled back to r1 (healthy)');
    expect(live()).toBe('releases/r1');
  });

  it('a health_cmd in the release is run as the check, and old releases beyond keep are pruned', async () => {
    for (const [name, v] of [['r3', 'v3'], ['r4', 'v4'], ['r5', 'v5']]) {
      const r = await deploy({ ...publish(tgz(work(), release)), release: name!, VERSION: v!, health_url: '', health_cmd: 'bin/health', keep: '2' });
      expect(r.code, r.out).toBe(0);
    }
    expect(live()).toBe('releases/r5');
    expect(readdirSync(join(app, 'releases')).filter((f) => !f.startsWith('.')).sort()).toEqual(['r4', 'r5']);
    expect(readFileSync(join(app, 'releases/.order'), 'utf8')).toBe('r4\nr5\n');
  });

  it('rollback switches to the release installed before the live one and restarts it; then further back; then refuses', async () => {
    const health = { health_url: `http://127.0.0.1:${port}/health`, health_interval: '0.2', health_retries: '25', grace: '2' };
    let r = await runTask('rollback', { dir: app, ...health }, settings);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('rolled back from r5 to r4');
    expect(live()).toBe('releases/r4');
    expect(await answer()).toBe('200 v4');
    r = await runTask('rollback', { dir: app, ...health }, settings);
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain('no release was installed before r4');
    r = await runTask('rollback', { dir: app, release: 'r5', ...health }, settings);
    expect(r.code, r.out).toBe(0);
    expect(await answer()).toBe('200 v5');
  });

  it.skipIf(!haveUnzip)('a zip artifact is unpacked with its executables (needs unzip on the host)', async () => {
    const entries = Object.fromEntries(
      Object.entries(release).map(([k, v]) => [k, typeof v === 'string' ? { content: v } : 'content' in v ? v : { content: '' }]),
    );
    const r = await deploy({ ...publish(zip(entries), '.zip'), release: 'z1', VERSION: 'vz' });
    expect(r.code, r.out).toBe(0);
    expect(await answer()).toBe('200 vz');
  });

  it("downloads with Node's fetch when neither curl nor wget is installed", async () => {
    const bin = join(root, 'bin-without-curl');
    mkdirSync(bin);
    for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', dirname(process.execPath)]) {
      let names: string[] = [];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (name === 'curl' || name === 'wget' || existsSync(join(bin, name))) continue;
        symlinkSync(join(dir, name), join(bin, name));
      }
    }
    const r = await deploy({ ...publish(tgz(work(), release)), release: 'n1', VERSION: 'vn' }, { PATH: bin });
    expect(r.code, r.out).toBe(0);
    expect(await answer()).toBe('200 vn');
  });
});

describe('scripts/deploy refuses, installing nothing', () => {
  const unchanged = async (r: { code: number | undefined; out: string }, message: string | RegExp) => {
    expect(r.code, r.out).toBe(2);
    expect(r.out).toMatch(message);
    expect(live()).toBe('releases/n1');
    expect(leftovers()).toEqual([]);
    expect(readdirSync(outside)).toEqual([]);
  };

  it('an artifact whose sha256 differs', async () => {
    const a = publish(tgz(work(), release));
    await unchanged(await deploy({ url: a.url, sha256: sha256(Buffer.from('other')), release: 'bad-sha' }), 'sha256 mismatch');
    expect(existsSync(join(app, 'releases/bad-sha'))).toBe(false);
  });

  it('a half-downloaded artifact (the connection drops mid-body)', async () => {
    const body = tgz(work(), { ...release, 'big.bin': 'x'.repeat(1 << 20) });
    files.routes.set('/artifacts/half.tgz', (res) => {
      res.setHeader('content-length', body.length);
      res.write(body.subarray(0, body.length >> 1), () => res.destroy());
    });
    await unchanged(await deploy({ url: `${files.url}/artifacts/half.tgz`, sha256: sha256(body), release: 'half' }), /download of .* failed/);
  });

  it('an artifact with a ../ member', async () => {
    const w = work();
    writeTree(w, { 'evil.txt': 'evil\n', 'sub/keep.txt': 'ok\n' });
    const body = tgzRawNames(join(w, 'sub'), ['keep.txt', '../evil.txt']);
    await unchanged(await deploy({ ...publish(body), release: 'dotdot' }), 'refused artifact: members outside the release');
  });

  it('an artifact with an absolute member name', async () => {
    const w = work();
    writeTree(w, { 'abs.txt': 'abs\n' });
    const body = tgzRawNames(w, [join(w, 'abs.txt')]);
    await unchanged(await deploy({ ...publish(body), release: 'absolute' }), 'refused artifact: members outside the release');
  });

  it('an artifact with a symlink to an absolute path', async () => {
    await unchanged(await deploy({ ...publish(tgz(work(), { ...release, 'etc': { symlink: '/etc' } })), release: 'abslink' }), /symlink etc -> \/etc is absolute/);
  });

  it('an artifact with a relative symlink leading out of the release', async () => {
    await unchanged(await deploy({ ...publish(tgz(work(), { ...release, 'config/up': { symlink: '../../../../outside' } })), release: 'uplink' }), /symlink config\/up -> .* leads outside the release/);
  });

  it('an artifact that writes a file through a symlink it just made', async () => {
    const r = await deploy({ ...publish(tgzWriteThrough(work(), outside)), release: 'through' });
    await unchanged(r, /refused artifact|unpacking failed/);
  });

  it('a template naming a param that was not given', async () => {
    await unchanged(await deploy({ ...publish(tgz(work(), { ...release, 'x.conf.tmpl': '{{NOT_GIVEN}}\n' })), release: 'tmpl' }), /template x.conf.tmpl could not be rendered/);
  });

  it('a service directory outside SERVICE_ROOTS, or reached through a symlink that leads outside', async () => {
    const a = publish(tgz(work(), release));
    mkdirSync(join(outside, 'svc/releases'), { recursive: true });
    mkdirSync(join(outside, 'svc/run'), { recursive: true });
    let r = await deploy({ ...a, dir: join(outside, 'svc') });
    expect(r.code).toBe(2);
    expect(r.out).toContain('is not inside a service root');
    symlinkSync(join(outside, 'svc'), join(srv, 'sneaky'));
    r = await deploy({ ...a, dir: join(srv, 'sneaky') });
    expect(r.code).toBe(2);
    expect(r.out).toContain('is not inside a service root');
    expect(readdirSync(join(outside, 'svc/releases'))).toEqual([]);
  });

  it('a file:// artifact outside SERVICE_ROOTS and ARTIFACT_ROOTS', async () => {
    const body = tgz(work(), release);
    const path = join(outside, 'a.tgz');
    writeFileSync(path, body);
    let r = await deploy({ url: `file://${path}`, sha256: sha256(body), release: 'f1' });
    expect(r.code).toBe(2);
    expect(r.out).toContain('in neither a service root nor ARTIFACT_ROOTS');
    r = await deploy({ url: `file://${path}`, sha256: sha256(body), release: 'f1', VERSION: 'vf' }, { ARTIFACT_ROOTS: outside });
    expect(r.code, r.out).toBe(0);
    expect(await answer()).toBe('200 vf');
  });
});
