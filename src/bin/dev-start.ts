// `npm start`: controller, agent and monitor on this machine for development, as child processes, on
// HTTPAGENT_REDIS_URL or on a private redis-server (AOF under ./var/redis). Secrets are generated once
// into ./var/dev-secrets (platform token, enrollment token, port-token signing key). Ctrl-C stops everything it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitForRedis } from './redis-ready.js';

const here = dirname(fileURLToPath(import.meta.url));
const fromSource = import.meta.url.endsWith('.ts');
/** The same CLI this file sits beside: compiled (dist) or, under tsx, the TypeScript source. */
const cliArgs = fromSource ? ['--import', 'tsx', join(here, 'httpagent.ts')] : [join(here, 'httpagent.js')];

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

async function pickPort(preferred: number): Promise<number> {
  if (preferred && (await portFree(preferred))) return preferred;
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => res(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

interface DevSecrets {
  platformToken: string;
  /** Files the controller and agent read their secrets from: never a command line or environment. */
  controllerConfig: string;
  enrollTokenFile: string;
  signingKeyFile: string;
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
  return { platformToken, controllerConfig, enrollTokenFile: join(dir, 'enroll-token'), signingKeyFile: join(dir, 'signing-key.pem') };
}

/** The environment without httpagent secrets: the agent refuses them, and children should not inherit them. */
function withoutSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const k of ['HTTPAGENT_PLATFORM_TOKEN', 'HTTPAGENT_ENROLL_TOKEN', 'HTTPAGENT_AGENT_TOKEN']) delete out[k];
  return out;
}

/** Prefixes each line of a child's output with its name, so three logs stay readable in one terminal. */
function pipe(name: string, proc: ChildProcess): void {
  for (const stream of [proc.stdout, proc.stderr]) {
    let partial = '';
    stream?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) process.stdout.write(`[${name}] ${l}\n`);
    });
  }
}

async function main(): Promise<number> {
  const env = process.env;
  const varDir = resolve('var');
  mkdirSync(varDir, { recursive: true });
  const secrets = loadSecrets(join(varDir, 'dev-secrets'), env);
  const children: Child[] = [];
  // Own process groups: Ctrl-C reaches only this process, which then stops each child exactly once
  // (a second signal would make the agent skip its drain) and stops Redis last.
  const start = (name: string, file: string, args: string[], childEnv: NodeJS.ProcessEnv) => {
    const proc = spawn(file, args, { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    pipe(name, proc);
    children.push({ name, proc });
    return proc;
  };

  let redisUrl = env.HTTPAGENT_REDIS_URL;
  let redis: ChildProcess | undefined;
  if (!redisUrl) {
    const dir = join(varDir, 'redis');
    mkdirSync(dir, { recursive: true });
    const port = await pickPort(0);
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '', '--logfile', join(dir, 'redis.log')], { stdio: 'ignore', detached: true });
    redis.once('error', (err) => process.stderr.write(`cannot start redis-server (is it installed?): ${err.message}\n`));
    await waitForRedis(port, { what: 'see var/redis/redis.log' });
    redisUrl = `redis://127.0.0.1:${port}`;
  }

  const controllerPort = await pickPort(9890);
  const agentPort = await pickPort(9889);
  const controllerUrl = `http://127.0.0.1:${controllerPort}`;
  const common = withoutSecrets(env);
  start('controller', process.execPath, [...cliArgs, 'controller', '--config', secrets.controllerConfig], { ...common, HTTPAGENT_REDIS_URL: redisUrl, HTTPAGENT_LISTEN: `127.0.0.1:${controllerPort}` });
  const agentState = env.HTTPAGENT_STATE_DIR ?? join(varDir, 'agent');
  mkdirSync(agentState, { recursive: true, mode: 0o700 });
  // Until it has a credential, the agent enrolls with a copy of the token, which it deletes once enrolled.
  const enrollCopy = join(agentState, 'enroll-token');
  if (!existsSync(join(agentState, 'credential'))) copyFileSync(secrets.enrollTokenFile, enrollCopy);
  const agentEnv = { ...common, HTTPAGENT_CONTROLLER_URL: controllerUrl, HTTPAGENT_LISTEN: `127.0.0.1:${agentPort}`, HTTPAGENT_STATE_DIR: agentState, HTTPAGENT_ENROLL_TOKEN_FILE: enrollCopy };
  start('agent', process.execPath, [...cliArgs, 'agent'], agentEnv);
  const monitor = existsSync(join(here, fromSource ? 'run-monitor.ts' : 'run-monitor.js'));
  if (monitor) start('monitor', process.execPath, [...cliArgs, 'monitor'], agentEnv);

  const banner = [
    '',
    'httpagent is running:',
    `  controller  ${controllerUrl}`,
    `  agent       http://127.0.0.1:${agentPort}`,
    `  redis       ${redisUrl}${redis ? ' (private, AOF in var/redis)' : ''}`,
    monitor ? '  monitor     running' : '',
    '',
    `  platform token  ${secrets.platformToken}   (kept in var/dev-secrets/platform-token)`,
    '',
    'Try:',
    `  export HTTPAGENT_CONTROLLER_URL=${controllerUrl} HTTPAGENT_PLATFORM_TOKEN=${secrets.platformToken}`,
    '  npx httpagent job submit noop --param message=hello --wait',
    '  npx httpagent agents',
    `  curl -s -H "authorization: Bearer $HTTPAGENT_PLATFORM_TOKEN" ${controllerUrl}/v1/agents`,
    `  curl -s http://127.0.0.1:${agentPort}/healthz`,
    '',
    'Ctrl-C stops everything.',
    '',
    'The dashboard (sign in with the platform token):',
    `open ${controllerUrl}/`,
  ].filter((l, i, a) => l !== '' || a[i - 1] !== '');
  process.stdout.write(`${banner.join('\n')}\n`);

  return new Promise<number>((resolveExit) => {
    let stopping = 0;
    const stopAll = (code: number) => {
      stopping++;
      const signal = stopping > 1 ? 'SIGKILL' : 'SIGTERM';
      if (stopping === 1) process.stdout.write('\nstopping (Ctrl-C again to kill)...\n');
      // The agent and monitor first (the agent drains through the controller), then the controller.
      const order = [...children].reverse();
      const exited = (c: Child) => c.proc.exitCode !== null || c.proc.signalCode !== null;
      const next = (i: number) => {
        const c = order[i];
        if (!c) {
          redis?.kill('SIGTERM'); // redis-server rewrites nothing on SIGTERM with save '': AOF is already on disk
          if (redis && redis.exitCode === null) redis.once('exit', () => resolveExit(code));
          else resolveExit(code);
          return;
        }
        if (exited(c)) return next(i + 1);
        c.proc.once('exit', () => next(i + 1));
        c.proc.kill(signal);
      };
      if (signal === 'SIGKILL') {
        for (const c of children) if (!exited(c)) c.proc.kill('SIGKILL');
        redis?.kill('SIGKILL');
        resolveExit(130);
        return;
      }
      next(0);
    };
    process.on('SIGINT', () => stopAll(0));
    process.on('SIGTERM', () => stopAll(0));
    for (const c of children) {
      c.proc.once('exit', (code, signal) => {
        if (stopping) return;
        process.stdout.write(`[${c.name}] exited (${code ?? signal}); stopping the rest\n`);
        stopAll(1);
      });
    }
    // Should this process die some other way, take the children with it.
    process.once('exit', () => {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
      if (redis?.exitCode === null) redis.kill('SIGTERM');
    });
  });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`npm start: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
