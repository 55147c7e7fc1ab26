// The agent port over a real socket: auth, error mapping, and each route's happy path and hostile input.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { buildAgentServer, type AgentServerDeps } from '../../src/agent/port/agent-server.js';
import { silentLogger } from '../../src/shared/log.js';
import { createAgentMetrics } from '../../src/agent/agent-metrics.js';
import type { JobSpec } from '../../src/shared/protocol/job.js';
import { encodeExecutionData, encodeHeader, encodeSessionInfo, parseExecFile } from '../../src/agent/tasks/jacoco-codec.js';
import { sameUserTasks } from '../helpers/task-launcher.js';
import { runLightTask } from '../../src/agent/tasks/run-light-task.js';
import { freePort } from '../helpers/ports.js';
import { createPortTokenSigner, forgedTokens, ringFor, type PortTokenSigner } from '../helpers/port-tokens.js';
import { newKeyBlob, newPublicKey, sshString } from '../helpers/ssh-keys.js';
import type { PortKeyRing } from '../../src/agent/identity/port-key-ring.js';
import { waitUntil } from '../helpers/wait.js';

const AGENT_ID = 'agent-under-test';
/** A port token for this agent, minted in beforeAll with the key the agent's portTokenKeysFile names. */
let TOKEN = '';
let signer: PortTokenSigner;
let ring: PortKeyRing;
const PLATFORM_TOKEN = 'platform-token-0123456789abcdef';
const tasksDir = fileURLToPath(new URL('../fixtures/http-tasks', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'httpagent-http-'));
const rootA = join(tmp, 'builds');
const rootB = join(tmp, 'caches');
const home = join(tmp, 'home-root');
const passwdFile = join(tmp, 'passwd');

const submitted: JobSpec[] = [];
let controllerDown = false;

function makeDeps(overrides: Partial<AgentServerDeps> = {}): AgentServerDeps {
  return {
    logger: silentLogger(),
    metrics: createAgentMetrics({ processMetrics: true }),
    tasks: sameUserTasks(tasksDir, { hostEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin', HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN } }),
    portKeys: ring,
    jobs: {
      running: () => 2,
      draining: () => false,
      revoked: () => false,
      controllerReachable: () => true,
      submitJob: async (spec) => {
        if (controllerDown) throw new Error('ECONNREFUSED');
        submitted.push(spec);
        return { id: `job-${submitted.length}` };
      },
    },
    version: '9.9.9',
    commit: 'abc123',
    startedAt: Date.now() - 5000,
    passwdFile,
    ...overrides,
  };
}

let app: FastifyInstance;
let base = '';
let strictApp: FastifyInstance;
let strictBase = '';

async function listen(a: FastifyInstance): Promise<string> {
  await a.listen({ port: 0, host: '127.0.0.1' });
  const addr = a.server.address();
  return `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
}

beforeAll(async () => {
  mkdirSync(rootA);
  mkdirSync(rootB);
  mkdirSync(home);
  writeFileSync(passwdFile, `root:x:0:0:root:${home}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
  signer = await createPortTokenSigner();
  ring = await ringFor(tmp, signer);
  TOKEN = await signer.mint(AGENT_ID, { ttlSec: 300 });
  const config = agentConfigSchema.parse({
    agentId: AGENT_ID,
    controllerUrl: 'http://controller.test:9890/',
    stateDir: join(tmp, 'state'),
    runConcurrency: 4,
    runQueue: 16,
    runTimeoutSec: 10,
    killGraceMs: 500,
    outputCapBytes: 64 * 1024,
    bodyLimitBytes: 16 * 1024,
    deleteRoots: `${rootA},${rootB}`,
    authorizeUsers: 'root,ghost',
  });
  app = buildAgentServer(config, makeDeps());
  base = await listen(app);
  // Second instance: metrics open to all (metricsPublic), no delete roots configured.
  strictApp = buildAgentServer({ ...config, metricsPublic: true, deleteRoots: [] }, makeDeps());
  strictBase = await listen(strictApp);
});

afterAll(async () => {
  await app?.close();
  await strictApp?.close();
  rmSync(tmp, { recursive: true, force: true });
});

interface Answer {
  status: number;
  headers: Headers;
  json: any;
  bytes: Buffer;
}

async function call(method: string, path: string, body?: unknown, opts: { token?: string | null; raw?: string; url?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let payload: string | undefined;
  if (opts.raw !== undefined) payload = opts.raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${opts.url ?? base}${path}`, { method, headers, body: payload });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json: any;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, bytes };
}

describe('service routes and auth', () => {
  it('answers /healthz without a token with liveness and state only', async () => {
    const r = await call('GET', '/healthz', undefined, { token: null });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, state: 'online' });
  });

  it('answers /healthz with a port token in full', async () => {
    const r = await call('GET', '/healthz');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, state: 'online', status: 'ok', agentId: AGENT_ID, version: '9.9.9', commit: 'abc123', runningJobs: 2, controllerReachable: true, draining: false, revoked: false });
    expect(r.json.uptimeSec).toBeGreaterThanOrEqual(4);
    // A bad token on a public route is refused, not treated as none.
    expect((await call('GET', '/healthz', undefined, { token: PLATFORM_TOKEN })).status).toBe(401);
  });

  it('refuses a missing, wrong or malformed token with 401 UNAUTHORIZED', async () => {
    for (const token of [null, 'wrong-token-0123456789abcdef', TOKEN.slice(0, -1), '', PLATFORM_TOKEN, `${TOKEN}.x`]) {
      const r = await call('POST', '/v1/run', { task: 'true' }, { token });
      expect(r.status, String(token)).toBe(401);
      expect(r.json.error.code).toBe('UNAUTHORIZED');
    }
    const basic = await fetch(`${base}/v1/run`, { method: 'POST', headers: { authorization: `Basic ${TOKEN}` } });
    expect(basic.status).toBe(401);
    // Unknown routes need the token too, so the port does not reveal its route table.
    expect((await call('GET', '/v1/nothing', undefined, { token: null })).status).toBe(401);
    expect((await call('GET', '/v1/nothing')).json.error.code).toBe('NOT_FOUND');
  });

  it('refuses port tokens for another agent, expired, too long-lived, unsigned, HS256 or signed by an unknown key', async () => {
    const stranger = await createPortTokenSigner();
    const now = Math.floor(Date.now() / 1000);
    const forged = forgedTokens(AGENT_ID, signer.publicPem);
    const refused: Record<string, string> = {
      'for another agent': await signer.mint('agent-b'),
      expired: await signer.mint(AGENT_ID, { iat: now - 400, ttlSec: 300 }),
      'expired past the 30 s tolerance': await signer.mint(AGENT_ID, { iat: now - 100, exp: now - 31 }),
      'lives longer than 300 s': await signer.mint(AGENT_ID, { ttlSec: 301 }),
      'no iat and an exp too far off': await signer.mint(AGENT_ID, { iat: null, exp: now + 400 }),
      'unknown key': await stranger.mint(AGENT_ID),
      'unknown key, no kid': await stranger.mint(AGENT_ID, { kid: null }),
      'unknown key under our kid': await stranger.mint(AGENT_ID, { kid: signer.kid }),
      hs256: forged.hs256,
      none: forged.none,
    };
    for (const [why, token] of Object.entries(refused)) {
      const r = await call('POST', '/v1/run', { task: 'true' }, { token });
      expect(r.status, why).toBe(401);
      expect(r.json.error.code, why).toBe('UNAUTHORIZED');
    }
    // Within the rules: no kid (every key is tried), no iat with a near exp, expired but within the tolerance.
    for (const token of [await signer.mint(AGENT_ID, { kid: null }), await signer.mint(AGENT_ID, { iat: null, exp: now + 60 }), await signer.mint(AGENT_ID, { iat: now - 100, exp: now - 10 })]) {
      expect((await call('POST', '/v1/run', { task: 'true' }, { token })).status).toBe(200);
    }
  });

  it('serves /metrics only with a token by default, and to anyone when metricsPublic is true', async () => {
    expect((await call('GET', '/metrics', undefined, { token: null })).status).toBe(401);
    const withToken = await call('GET', '/metrics');
    expect(withToken.status).toBe(200);
    expect(withToken.bytes.toString()).toContain('httpagent_process_cpu_user_seconds_total');
    expect((await call('GET', '/metrics', undefined, { token: null, url: strictBase })).status).toBe(200);
  });

  it('maps oversize bodies to 413, bad JSON to 400 BAD_JSON and unknown fields to 400 naming them', async () => {
    const big = await call('POST', '/v1/run', { task: 'true', params: { MSG: 'x'.repeat(20_000) } });
    expect(big.status).toBe(413);
    expect(big.json.error.code).toBe('BODY_TOO_LARGE');
    const bad = await call('POST', '/v1/run', undefined, { raw: '{"task": ' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe('BAD_JSON');
    const unknown = await call('POST', '/v1/run', { task: 'true', sneaky: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.code).toBe('BAD_REQUEST');
    expect(unknown.json.error.issues[0]).toMatchObject({ code: 'unrecognized_keys' });
    expect(unknown.json.error.message).toContain('"sneaky"');
    const text = await fetch(`${base}/v1/run`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'text/plain' }, body: 'task=true' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as any).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    const nested = await call('POST', '/v1/delete', { paths: [42] });
    expect(nested.json.error.issues[0].path).toBe('paths.0');
  });

  it('publishes /openapi.json generated from the request schemas', async () => {
    const r = await call('GET', '/openapi.json', undefined, { token: null });
    expect(r.status).toBe(200);
    expect(r.json.openapi).toBe('3.1.0');
    const run = r.json.paths['/v1/run'].post.requestBody.content['application/json'].schema;
    expect(run.additionalProperties).toBe(false);
    expect(run.required).toEqual(['task']);
    for (const p of ['/healthz', '/metrics', '/v1/delete', '/v1/authorize', '/v1/coverage/jacoco', '/v1/jobs']) expect(r.json.paths[p], p).toBeDefined();
    expect(r.json.paths['/v1/authorize'].delete).toBeDefined();
  });
});

describe('POST /v1/run', () => {
  it('runs a task and answers exit code and output', async () => {
    const ok = await call('POST', '/v1/run', { task: 'true' });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ exitCode: 0, signal: null, stdout: '', stderr: '', truncated: false, timedOut: false });
    expect(typeof ok.json.durationMs).toBe('number');
    const fail = await call('POST', '/v1/run', { task: 'fail' });
    expect(fail.json).toMatchObject({ exitCode: 3, stderr: 'failing on purpose\n' });
  });

  it('passes shell metacharacters and newlines in params to the script literally (env and stdin)', async () => {
    const msg = `$(touch ${tmp}/pwned); \`id\` && rm -rf / | cat > /dev/null <x 'q' "dq" \\ *\nsecond line\n\ttab $HOME ; exit 7`;
    const r = await call('POST', '/v1/run', { task: 'echo-params', params: { MSG: msg, 'other.name': 'a b' } });
    expect(r.status).toBe(200);
    expect(r.json.exitCode).toBe(0);
    expect(r.json.stdout).toBe(msg);
    expect(JSON.parse(r.json.stderr)).toEqual({ MSG: msg, 'other.name': 'a b' });
    expect(existsSync(join(tmp, 'pwned'))).toBe(false);
  });

  it('refuses a NUL in a param with 400 naming the field (attack: a NUL answered 200 with nothing run)', async () => {
    const r = await call('POST', '/v1/run', { task: 'echo-params', params: { MSG: 'ok', EVIL: 'a\u0000b' } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('BAD_REQUEST');
    expect(r.json.error.message).toContain('params.EVIL');
    expect(r.json.error.message).toContain('NUL');
  });

  it('refuses param names that become the same variable, naming both (attack: a.b, a-b and A_B collapsed into one)', async () => {
    for (const [x, y] of [['a.b', 'a-b'], ['a.b', 'A_B'], ['build_id', 'BUILD-ID']] as const) {
      const r = await call('POST', '/v1/run', { task: 'echo-params', params: { [x]: '1', [y]: '2' } });
      expect(r.status, `${x} ${y}`).toBe(400);
      expect(r.json.error.code).toBe('BAD_REQUEST');
      expect(r.json.error.message).toContain(`"${x}"`);
      expect(r.json.error.message).toContain(`"${y}"`);
    }
    const job = await call('POST', '/v1/jobs', { steps: [{ task: 'deploy', params: { 'a.b': '1', 'a-b': '2' } }] });
    expect(job.status).toBe(400);
    expect(job.json.error.message).toContain('"a-b"');
  });

  it('answers 400 instead of 200-with-nothing-run when the params cannot fit in a process environment (E2BIG)', async () => {
    // 64 params of 64 KiB: valid for the schema, more than Linux lets execve carry.
    const params = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`P${i}`, 'x'.repeat(65_536)]));
    await expect(
      runLightTask({ tasks: sameUserTasks(tasksDir), task: 'true', params, timeoutMs: 5000, killGraceMs: 100, outputCapBytes: 1024 }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('E2BIG') });
    await expect(
      runLightTask({ tasks: sameUserTasks(tasksDir), task: 'true', params: { A: 'a\0b' }, timeoutMs: 5000, killGraceMs: 100, outputCapBytes: 1024 }),
    ).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('params') });
  });

  it('caps each stream and says truncated', async () => {
    const r = await call('POST', '/v1/run', { task: 'noisy' });
    expect(r.json.truncated).toBe(true);
    expect(r.json.stdout.length).toBe(64 * 1024);
    expect(r.json.stderr).toBe('done\n');
    expect(r.json.exitCode).toBe(0);
  });

  it('kills the whole process tree on timeout', async () => {
    const pidFile = join(tmp, 'tree.pids');
    const r = await call('POST', '/v1/run', { task: 'sleep-tree', params: { PIDFILE: pidFile }, timeoutSec: 1 });
    expect(r.json.timedOut).toBe(true);
    expect(r.json.exitCode).toBe(null);
    expect(r.json.signal).toBe('SIGTERM');
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(procState(pid), `pid ${pid}`).toMatch(/^(gone|Z)$/);
  });

  it('stops the task tree when the caller hangs up', async () => {
    const pidFile = join(tmp, 'abort.pids');
    const ctl = new AbortController();
    const pending = fetch(`${base}/v1/run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'sleep-tree', params: { PIDFILE: pidFile }, timeoutSec: 10 }),
      signal: ctl.signal,
    }).catch((err: unknown) => err);
    await waitUntil('both processes of the tree to start', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim().split('\n').length >= 2);
    ctl.abort();
    await pending;
    const pids = readFileSync(pidFile, 'utf8').trim().split('\n').map(Number);
    // The stop goes through the kill grace after the hang-up is noticed.
    await waitUntil('the tree to stop', () => pids.every((p) => /^(gone|Z)$/.test(procState(p))));
  });

  it('refuses unknown tasks, path-like task names and timeouts above runTimeoutSec', async () => {
    expect((await call('POST', '/v1/run', { task: 'no-such-task' })).json.error.code).toBe('UNKNOWN_TASK');
    for (const task of ['../fixtures/http-tasks/true', '/bin/sh', '.hidden', 'a b']) {
      const r = await call('POST', '/v1/run', { task });
      expect(r.status, task).toBe(400);
      expect(r.json.error.code, task).toBe('BAD_REQUEST');
    }
    const long = await call('POST', '/v1/run', { task: 'true', timeoutSec: 11 });
    expect(long.status).toBe(400);
    expect(long.json.error.issues[0].path).toBe('timeoutSec');
  });
});

describe('POST /v1/delete', () => {
  it('deletes files and trees inside the roots and reports missing ones', async () => {
    mkdirSync(join(rootA, 'build-1/sub'), { recursive: true });
    writeFileSync(join(rootA, 'build-1/sub/f.txt'), 'x');
    writeFileSync(join(rootB, 'cache.bin'), 'x');
    const r = await call('POST', '/v1/delete', { paths: [join(rootA, 'build-1'), join(rootB, 'cache.bin'), join(rootA, 'never-there'), join(rootA, 'no/such/parent')] });
    expect(r.status).toBe(200);
    expect(r.json.results.map((x: any) => x.status)).toEqual(['deleted', 'deleted', 'missing', 'missing']);
    expect(existsSync(join(rootA, 'build-1'))).toBe(false);
    expect(existsSync(join(rootB, 'cache.bin'))).toBe(false);
  });

  it('refuses .. escapes, absolute paths outside, relative paths, the roots and their parents', async () => {
    const victim = join(tmp, 'victim.txt');
    writeFileSync(victim, 'keep me');
    const paths = [
      `${rootA}/../victim.txt`,
      `${rootA}/x/../../victim.txt`,
      victim,
      '/etc/hostname',
      'builds/x',
      rootA,
      `${rootA}/`,
      `${rootA}/.`,
      tmp,
      '/',
    ];
    const r = await call('POST', '/v1/delete', { paths });
    const reasons = r.json.results.map((x: any) => `${x.status}:${x.reason}`);
    expect(reasons).toEqual([
      'refused:DOT_DOT',
      'refused:DOT_DOT',
      'refused:OUTSIDE_ROOTS',
      'refused:OUTSIDE_ROOTS',
      'refused:NOT_ABSOLUTE',
      'refused:IS_ROOT',
      'refused:IS_ROOT',
      'refused:IS_ROOT',
      'refused:IS_ROOT',
      'refused:IS_ROOT',
    ]);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(existsSync(rootA)).toBe(true);
    expect(existsSync('/etc/hostname')).toBe(true);
  });

  it('never deletes through a symlink to /etc inside a root; removes the link itself', async () => {
    const outside = join(tmp, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious'), 'keep');
    symlinkSync('/etc', join(rootA, 'etc-link'));
    symlinkSync(outside, join(rootA, 'out-link'));
    const r = await call('POST', '/v1/delete', { paths: [join(rootA, 'etc-link/hostname'), join(rootA, 'out-link/precious'), join(rootA, 'out-link/')] });
    expect(r.json.results.map((x: any) => `${x.status}:${x.reason ?? ''}`)).toEqual(['refused:OUTSIDE_ROOTS', 'refused:OUTSIDE_ROOTS', 'deleted:']);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep');
    expect(existsSync(join(rootA, 'out-link'))).toBe(false);
    // A tree holding a link to /etc: rm removes the link, never what it points at.
    mkdirSync(join(rootA, 'tree'));
    symlinkSync('/etc', join(rootA, 'tree/etc'));
    const tree = await call('POST', '/v1/delete', { paths: [join(rootA, 'tree'), join(rootA, 'etc-link')] });
    expect(tree.json.results.map((x: any) => x.status)).toEqual(['deleted', 'deleted']);
    expect(existsSync('/etc/hostname')).toBe(true);
    expect(lstatSync('/etc').isDirectory()).toBe(true);
  });

  it('answers 403 DELETE_DISABLED when no roots are configured', async () => {
    const r = await call('POST', '/v1/delete', { paths: [join(rootA, 'x')] }, { url: strictBase });
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('DELETE_DISABLED');
  });
});

/** R/S/D... for a live process, Z for a zombie not yet reaped by init (it is dead), gone when reaped. */
function procState(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[0]!;
  } catch {
    return 'gone';
  }
}

/** A key line of `type` whose blob claims to be a `blobType` key. */
function mislabelledKey(type: string, blobType: string): string {
  return `${type} ${Buffer.concat([sshString(blobType), sshString(Buffer.alloc(32, 7))]).toString('base64')}`;
}

describe('POST / DELETE /v1/authorize', () => {
  const keysFile = join(home, '.ssh/authorized_keys');
  // Each test starts with no ~/.ssh, whatever keys the one before it added.
  beforeEach(() => rmSync(join(home, '.ssh'), { recursive: true, force: true }));

  it('adds a key once, with the modes and owner sshd needs, and removes it', async () => {
    const key = newPublicKey('ssh-ed25519');
    const add = await call('POST', '/v1/authorize', { user: 'root', publicKey: `${key} alice@laptop` });
    expect(add.status).toBe(200);
    expect(add.json).toMatchObject({ user: 'root', status: 'added' });
    expect(add.json.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(statSync(join(home, '.ssh')).mode & 0o777).toBe(0o700);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    expect(statSync(keysFile).uid).toBe(0);
    // Same key with another comment is the same key.
    const again = await call('POST', '/v1/authorize', { user: 'root', publicKey: `${key} other-comment` });
    expect(again.json.status).toBe('present');
    expect(readFileSync(keysFile, 'utf8')).toBe(`${key} alice@laptop\n`);
    const del = await call('DELETE', '/v1/authorize', { user: 'root', publicKey: key });
    expect(del.json.status).toBe('removed');
    expect(readFileSync(keysFile, 'utf8')).toBe('');
    expect((await call('DELETE', '/v1/authorize', { user: 'root', publicKey: key })).json.status).toBe('absent');
    expect(readdirSync(join(home, '.ssh'))).toEqual(['authorized_keys']); // no temp files left behind
  });

  it('keeps every key when many are added at once, and never duplicates', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => newPublicKey(i % 2 ? 'ecdsa-sha2-nistp256' : 'ssh-rsa'));
    const answers = await Promise.all([...keys, ...keys].map((k) => call('POST', '/v1/authorize', { user: 'root', publicKey: k })));
    expect(answers.filter((a) => a.json.status === 'added')).toHaveLength(12);
    const lines = readFileSync(keysFile, 'utf8').trim().split('\n');
    expect(new Set(lines).size).toBe(12);
    expect(lines).toHaveLength(12);
  });

  it('refuses option-carrying, multi-line, malformed and mismatched keys', async () => {
    const key = newPublicKey('ssh-ed25519');
    const bad = [
      `command="/bin/sh" ${key}`,
      `no-pty,from="*" ${key}`,
      `${key}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB`,
      `${key}\rcommand="x"`,
      'ssh-ed25519 not*base64!',
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB=',
      mislabelledKey('ssh-ed25519', 'ssh-rsa'),
      mislabelledKey('ssh-dss', 'ssh-dss'),
      `ssh-ed25519 ${newKeyBlob('ssh-ed25519').subarray(0, -1).toString('base64')}`,
      `${key} comment-with-\u0007-bell`,
      '',
    ];
    for (const publicKey of bad) {
      const r = await call('POST', '/v1/authorize', { user: 'root', publicKey });
      expect(r.status, JSON.stringify(publicKey)).toBe(400);
      expect(['INVALID_SSH_KEY', 'BAD_REQUEST'], JSON.stringify(publicKey)).toContain(r.json.error.code);
    }
    expect(existsSync(keysFile) ? readFileSync(keysFile, 'utf8') : '').not.toContain(key.split(' ')[1]!);
  });

  it('refuses users outside authorizeUsers and users that do not exist', async () => {
    const key = newPublicKey('ssh-ed25519');
    const notAllowed = await call('POST', '/v1/authorize', { user: 'nobody', publicKey: key });
    expect(notAllowed.status).toBe(403);
    expect(notAllowed.json.error.code).toBe('USER_NOT_ALLOWED');
    const ghost = await call('POST', '/v1/authorize', { user: 'ghost', publicKey: key });
    expect(ghost.status).toBe(404);
    expect(ghost.json.error.code).toBe('USER_NOT_FOUND');
    expect((await call('POST', '/v1/authorize', { user: '../root', publicKey: key })).status).toBe(400);
  });
});

describe('POST /v1/coverage/jacoco (fake agent; the real JVM is in jacoco-jvm.test.ts)', () => {
  let fake: Server;
  let fakePort = 0;
  const reply = Buffer.concat([
    encodeHeader(),
    encodeSessionInfo({ id: 'svc', start: 1n, dump: 2n }),
    encodeExecutionData({ id: 5n, name: 'com/ex/A', probes: [true, false] }),
    encodeExecutionData({ id: 6n, name: 'com/ex/B', probes: [true] }),
    Buffer.of(0x20),
  ]);
  let lastCommand = '';

  beforeAll(async () => {
    fake = createServer((s) => {
      s.on('data', (d) => {
        lastCommand = d.toString('hex');
        s.write(reply);
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const a = fake.address();
    fakePort = typeof a === 'object' && a ? a.port : 0;
  });
  afterAll(() => new Promise<void>((r) => fake.close(() => r())));

  it('answers the .exec bytes as application/octet-stream', async () => {
    const r = await call('POST', '/v1/coverage/jacoco', { port: fakePort, reset: true });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(lastCommand).toBe('01c0c01007400101');
    expect(parseExecFile(r.bytes).classes.map((c) => c.name)).toEqual(['com/ex/A', 'com/ex/B']);
  });

  it('saves under stateDir/coverage with "save": true', async () => {
    const r = await call('POST', '/v1/coverage/jacoco', { port: fakePort, host: '127.0.0.1', save: true });
    expect(r.json).toMatchObject({ sessions: 1, classes: 2, bytes: reply.length - 1 });
    expect(r.json.path.startsWith(join(tmp, 'state', 'coverage'))).toBe(true);
    expect(readFileSync(r.json.path).equals(reply.subarray(0, -1))).toBe(true);
  });

  it('answers 502 JACOCO_UNREACHABLE when nothing listens', async () => {
    const r = await call('POST', '/v1/coverage/jacoco', { port: await freePort() });
    expect(r.status).toBe(502);
    expect(r.json.error.code).toBe('JACOCO_UNREACHABLE');
  });
});

describe('POST /v1/jobs', () => {
  it('forwards a heavy job for this agent and answers 202 with a status URL', async () => {
    const r = await call('POST', '/v1/jobs', { task: 'deploy', params: { VERSION: '1.2.3' }, idempotencyKey: 'k1' });
    expect(r.status).toBe(202);
    expect(r.json).toEqual({ id: 'job-1', statusUrl: 'http://controller.test:9890/v1/jobs/job-1' });
    expect(submitted[0]).toMatchObject({ agent: 'agent-under-test', steps: [{ task: 'deploy', params: { VERSION: '1.2.3' } }], idempotencyKey: 'k1' });
  });

  it('refuses a job for another agent and maps a controller failure to 502', async () => {
    const other = await call('POST', '/v1/jobs', { task: 'deploy', agent: 'someone-else' });
    expect(other.status).toBe(400);
    controllerDown = true;
    try {
      const down = await call('POST', '/v1/jobs', { task: 'deploy' });
      expect(down.status).toBe(502);
      expect(down.json.error.code).toBe('CONTROLLER_UNREACHABLE');
    } finally {
      controllerDown = false;
    }
  });
});

describe('metrics after traffic', () => {
  it('records HTTP request durations per route and light task durations', async () => {
    // Counted from this test's own calls, whatever the other tests sent before it.
    const count = async (series: string) => {
      const text = (await call('GET', '/metrics')).bytes.toString();
      return Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1] ?? 0);
    };
    const requests = 'httpagent_http_request_duration_seconds_count{method="POST",route="/v1/run",status="200"}';
    const ok = 'httpagent_light_task_duration_seconds_count{route="run",outcome="ok"}';
    const failed = 'httpagent_light_task_duration_seconds_count{route="run",outcome="failed"}';
    const before = { requests: await count(requests), ok: await count(ok), failed: await count(failed) };
    expect((await call('POST', '/v1/run', { task: 'true' })).json.exitCode).toBe(0);
    expect((await call('POST', '/v1/run', { task: 'true' })).json.exitCode).toBe(0);
    expect((await call('POST', '/v1/run', { task: 'fail' })).json.exitCode).toBe(3);
    expect(await count(requests)).toBe(before.requests + 3);
    expect(await count(ok)).toBe(before.ok + 2);
    expect(await count(failed)).toBe(before.failed + 1);
  });
});
