// `npm start`: controller, agent and monitor on this machine for development, as child processes, on
// --redis URL (or HTTPAGENT_REDIS_URL) or on a private redis-server (AOF under ./var/redis). Each is
// started once the one before it answers, and the banner comes only when everything does, with an
// example that works against this agent. Secrets are generated once into ./var/dev-secrets (platform
// token, enrollment token, port-token signing key); the agent enrolls with a copy of the enrollment token.
// Ctrl-C stops everything it started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { redactUrl } from '../shared/config/fields.js';
import { createDevOutput, type DevOutput } from './dev-output.js';
import { listensOn } from './port-owner.js';
import { waitForRedis } from './redis-ready.js';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
/**
 * The same CLI this file sits beside: compiled (dist) or, under tsx, the TypeScript source (tsx named by
 * its resolved path: a bare `--import tsx` is looked up from the working directory, which may be anywhere).
 */
const cliArgs = fromSource ? ['--import', import.meta.resolve('tsx'), join(here, 'httpagent.ts')] : [join(here, 'httpagent.js')];

/** The dev agent's labels: the banner's and the README's examples target them, so they run here. */
export const DEV_LABELS = 'env=dev';

/**
 * The monitor's thresholds for a development machine: a laptop compiling at 100% CPU or with its memory
 * full of browser tabs is not an incident, and an alert about it would only teach people to ignore them.
 */
const DEV_MONITOR_ENV = { HTTPAGENT_ALERT_CPU_PERCENT: '100', HTTPAGENT_ALERT_MEMORY_PERCENT: '100', HTTPAGENT_ALERT_DISK_PERCENT: '99' };

/** How long each process has to answer before npm start gives up on it (a loaded laptop is slow). */
const READY_TIMEOUT_MS = 60_000;

const USAGE = `Usage: npm start -- [--port N] [--agent-port N] [--redis URL]

  --port N        the controller's port (default 9890, or a free one if that is taken)
  --agent-port N  the agent's port (default: 9889, or a free one)
  --redis URL     use this Redis (default: HTTPAGENT_REDIS_URL, else a private redis-server under ./var/redis)
`;

interface Child {
  name: string;
  proc: ChildProcess;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

async function anyFreePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => res(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** A port asked for must be free (say so if not); a default that is taken gives way to any free one. */
async function choosePort(asked: number | undefined, preferred: number, what: string): Promise<{ port: number; moved: boolean }> {
  if (asked !== undefined) {
    if (!(await portFree(asked))) throw new Error(`port ${asked} (${what}) is in use; pick another with ${what === 'controller' ? '--port' : '--agent-port'}`);
    return { port: asked, moved: false };
  }
  if (await portFree(preferred)) return { port: preferred, moved: false };
  return { port: await anyFreePort(), moved: true };
}

interface DevSecrets {
  platformToken: string;
  /** Files the controller and agent read their secrets from: never a command line or environment. */
  controllerConfig: string;
  enrollTokenFile: string;
}

/** Made once in var/dev-secrets (0700) and kept, so the console and a restarted agent keep working. */
function loadSecrets(dir: string, env: NodeJS.ProcessEnv): DevSecrets {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keep = (name: string, make: () => string): string => {
    const file = join(dir, name);
    if (!existsSync(file)) writeFileSync(file, make(), { mode: 0o600 });
    return readFileSync(file, 'utf8').trim();
  };
  const platformToken = env.HTTPAGENT_PLATFORM_TOKEN ?? keep('platform-token', () => randomBytes(24).toString('base64url'));
  keep('enroll-token', () => randomBytes(24).toString('base64url'));
  keep('signing-key.pem', () => generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  const controllerConfig = join(dir, 'controller.json');
  writeFileSync(controllerConfig, `${JSON.stringify({ platformToken, enrollTokenFile: join(dir, 'enroll-token'), signingKeyFile: join(dir, 'signing-key.pem') }, null, 2)}\n`, { mode: 0o600 });
  return { platformToken, controllerConfig, enrollTokenFile: join(dir, 'enroll-token') };
}

/** The environment without httpagent secrets: the agent refuses them, and children should not inherit them. */
function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of ['HTTPAGENT_PLATFORM_TOKEN', 'HTTPAGENT_ENROLL_TOKEN', 'HTTPAGENT_AGENT_TOKEN']) delete out[k];
  return out;
}

function parsePort(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 65535) throw new Error(`${flag} expects a port (1-65535), got "${v}"`);
  return n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Resolves once `probe` says yes; rejects when the child exits first (with its last lines) or after the
 * timeout. Probes a process on this machine: polling every 100 ms costs nothing.
 */
async function ready(c: Child, what: string, probe: () => Promise<boolean>, out: DevOutput): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let exited: number | string | undefined;
  const onExit = (code: number | null, signal: string | null) => (exited = code ?? signal ?? 'unknown');
  c.proc.once('exit', onExit);
  try {
    for (;;) {
      if (exited !== undefined) throw new Error(`${c.name} exited (${exited}) before ${what}:\n  ${out.tail(c.name).slice(-8).join('\n  ')}`);
      if (await probe().catch(() => false)) return;
      if (Date.now() > deadline) throw new Error(`${c.name} did not ${what} within ${READY_TIMEOUT_MS / 1000} s`);
      await sleep(100);
    }
  } finally {
    c.proc.off('exit', onExit);
  }
}

/**
 * The port that answered is the child's: not some other process's that took it first (port-owner.ts).
 * Asked only once the port answers, so the /proc scan is not repeated while nothing listens.
 */
async function owns(c: Child, port: number): Promise<boolean> {
  return c.proc.pid !== undefined && (await listensOn(c.proc.pid, port)) !== false;
}

async function httpOk(url: string, token?: string): Promise<Response | undefined> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(2000) });
  return res.ok ? res : undefined;
}

/**
 * A root agent runs tasks as taskUser (httpagent-task, which install.sh creates). On a development machine
 * without that account, npm start as root runs them as `nobody` rather than stop: still not root, and
 * not the agent's own user.
 */
function devTaskUser(env: NodeJS.ProcessEnv): Record<string, string> {
  if (process.getuid?.() !== 0 || env.HTTPAGENT_TASK_USER) return {};
  if (spawnSync('id', ['-u', 'httpagent-task'], { stdio: 'ignore' }).status === 0) return {};
  return { HTTPAGENT_TASK_USER: 'nobody' };
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string' }, 'agent-port': { type: 'string' }, redis: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const out = await createDevOutput(process.stdout, env);
  const varDir = resolve('var');
  mkdirSync(varDir, { recursive: true });
  const secrets = loadSecrets(join(varDir, 'dev-secrets'), env);
  const children: Child[] = [];
  // Own process groups: Ctrl-C reaches only this process, which then stops each child exactly once
  // (a second signal would make the agent skip its drain) and stops Redis last.
  const start = (name: string, args: string[], childEnv: NodeJS.ProcessEnv, onLine?: (l: string) => void): Child => {
    const proc = spawn(process.execPath, [...cliArgs, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    out.attach(name, proc, onLine);
    const c = { name, proc };
    children.push(c);
    return c;
  };

  let redis: ChildProcess | undefined;
  const exited = (c: Child) => c.proc.exitCode !== null || c.proc.signalCode !== null;
  /** The monitor and agent first (the agent drains through the controller), then the controller, Redis last. */
  const stopGracefully = (code: number): Promise<number> =>
    new Promise((resolveExit) => {
      out.say('\nstopping (Ctrl-C again to kill)...');
      const order = [...children].reverse();
      const next = (i: number) => {
        const c = order[i];
        if (c) {
          if (exited(c)) return next(i + 1);
          c.proc.once('exit', () => next(i + 1));
          c.proc.kill('SIGTERM');
          return;
        }
        // redis-server rewrites nothing on SIGTERM with save '': the AOF is already on disk.
        if (redis && redis.exitCode === null) {
          redis.once('exit', () => resolveExit(code));
          redis.kill('SIGTERM');
        } else resolveExit(code);
      };
      next(0);
    });
  let stopping: Promise<number> | undefined;
  /** The first call stops everything in order; a second (Ctrl-C again) kills what is left at once. */
  const stop = (code: number): Promise<number> => {
    if (!stopping) return (stopping = stopGracefully(code));
    for (const c of children) if (!exited(c)) c.proc.kill('SIGKILL');
    redis?.kill('SIGKILL');
    return Promise.resolve(130);
  };
  const stopAndExit = (code: number) => void stop(code).then((c) => process.exit(c));
  process.on('SIGINT', () => stopAndExit(0));
  process.on('SIGTERM', () => stopAndExit(0));
  // Should this process die some other way, take the children with it.
  process.once('exit', () => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
    if (redis?.exitCode === null) redis.kill('SIGTERM');
  });

  try {
    let redisUrl = values.redis ?? env.HTTPAGENT_REDIS_URL;
    if (!redisUrl) {
      const dir = join(varDir, 'redis');
      mkdirSync(dir, { recursive: true });
      const port = await anyFreePort();
      redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore', detached: true });
      redis.once('error', (err) => out.say(`cannot start redis-server (is it installed?): ${err.message}`));
      await waitForRedis(port, { what: 'see var/redis/redis.log' });
      redisUrl = `redis://127.0.0.1:${port}`;
    }

    const controllerPort = await choosePort(parsePort(values.port, '--port'), 9890, 'controller');
    const agentPort = await choosePort(parsePort(values['agent-port'], '--agent-port') ?? (values.port ? Number(values.port) - 1 : undefined), 9889, 'agent');
    const controllerUrl = `http://127.0.0.1:${controllerPort.port}`;
    const agentUrl = `http://127.0.0.1:${agentPort.port}`;
    const common = withoutSecrets(env);

    const controller = start('controller', ['controller', '--config', secrets.controllerConfig], { ...common, HTTPAGENT_REDIS_URL: redisUrl, HTTPAGENT_LISTEN: `127.0.0.1:${controllerPort.port}` });
    await ready(controller, 'answering /healthz', async () => Boolean(await httpOk(`${controllerUrl}/healthz`)) && (await owns(controller, controllerPort.port)), out);

    const agentState = env.HTTPAGENT_STATE_DIR ?? join(varDir, 'agent');
    mkdirSync(agentState, { recursive: true, mode: 0o700 });
    // Until it has a credential, the agent enrolls with a copy of the token, which it deletes once enrolled.
    const enrollCopy = join(agentState, 'enroll-token');
    if (!existsSync(join(agentState, 'credential'))) copyFileSync(secrets.enrollTokenFile, enrollCopy);
    const agentEnv = {
      ...common,
      ...devTaskUser(common),
      HTTPAGENT_CONTROLLER_URL: controllerUrl,
      HTTPAGENT_LISTEN: `127.0.0.1:${agentPort.port}`,
      HTTPAGENT_STATE_DIR: agentState,
      HTTPAGENT_ENROLL_TOKEN_FILE: enrollCopy,
      HTTPAGENT_LABELS: env.HTTPAGENT_LABELS ?? DEV_LABELS,
    };
    const agent = start('agent', ['agent'], agentEnv);
    let agentId = '';
    // Ready once the controller lists it online: enrolled, registered and heartbeating. Its port tells it
    // from other agents registered with the same Redis.
    await ready(agent, 'registering with the controller', async () => {
      if (!(await httpOk(`${agentUrl}/healthz`)) || !(await owns(agent, agentPort.port))) return false;
      const agents = (await (await httpOk(`${controllerUrl}/v1/agents`, secrets.platformToken))?.json()) as { id: string; state: string; port: number }[] | undefined;
      const mine = agents?.find((a) => a.port === agentPort.port && a.state === 'online');
      agentId = mine?.id ?? '';
      return Boolean(mine);
    }, out);

    const monitorMain = join(here, fromSource ? 'run-monitor.ts' : 'run-monitor.js');
    let monitorUp = false;
    if (existsSync(monitorMain)) {
      const monitor = start('monitor', ['monitor'], { ...agentEnv, ...DEV_MONITOR_ENV }, (l) => {
        if (l.includes('"msg":"monitor started"')) monitorUp = true;
      });
      await ready(monitor, 'starting', async () => monitorUp, out);
    }

    const cli = `node ${cliArgs.join(' ')}`;
    const labels = agentEnv.HTTPAGENT_LABELS.split(',')[0] ?? DEV_LABELS;
    const banner = [
      '',
      'httpagent is running:',
      `  controller  ${controllerUrl}${controllerPort.moved ? '   (9890 was taken)' : ''}`,
      `  agent       ${agentUrl}   id ${agentId}, labels ${agentEnv.HTTPAGENT_LABELS}${agentPort.moved ? '   (9889 was taken)' : ''}`,
      `  redis       ${redactUrl(redisUrl)}${redis ? ' (private, AOF in var/redis)' : ''}`,
      ...(monitorUp ? ['  monitor     running (dev thresholds: no CPU or memory alerts)'] : []),
      '',
      `  platform token  ${secrets.platformToken}   (kept in var/dev-secrets/platform-token)`,
      '',
      'Try it, in another terminal:',
      `  export HTTPAGENT_CONTROLLER_URL=${controllerUrl} HTTPAGENT_PLATFORM_TOKEN=${secrets.platformToken}`,
      `  alias httpagent='${cli}'`,
      `  httpagent job submit noop --label ${labels} --param message=hello --wait`,
      '  httpagent job list',
      '  httpagent agents',
      `  curl -s -H "authorization: Bearer $(httpagent token ${agentId})" ${agentUrl}/healthz`,
      '',
      `The dashboard: open ${controllerUrl}/ and sign in with the platform token.`,
      '',
      'Ctrl-C stops everything.',
      '',
    ];
    out.say(banner.join('\n'));
  } catch (err) {
    out.say(`npm start: ${(err as Error).message}`);
    return stop(1);
  }

  for (const c of children) {
    c.proc.once('exit', (code, signal) => {
      if (stopping) return;
      out.say(`[${c.name}] exited (${code ?? signal}); stopping the rest`);
      stopAndExit(1);
    });
  }
  // Runs until a signal or a child's exit ends it (process.exit above).
  return new Promise<number>(() => {});
}

main(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`npm start: ${(err as Error).message}\n`);
    process.exit(2);
  },
);
