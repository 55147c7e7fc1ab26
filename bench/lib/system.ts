// Starts the system the way production runs it: a private Redis, controllers and agents as separate
// processes from the compiled build (dist/), so figures include real process and socket costs.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { ed25519Pem } from '../../test/helpers/identity.js';
import { createPortTokenSigner, writePortKeysFile, type PortTokenSigner } from '../../test/helpers/port-tokens.js';
import { freePort } from '../../test/helpers/ports.js';
import { repoRoot, track, type Spawned } from '../../test/helpers/processes.js';
import { startRedis, type PrivateRedis } from '../../test/helpers/redis-server.js';

export const PLATFORM_TOKEN = 'bench-platform-token-0123456789';
/** Agents (and the bench's protocol client) enroll with it and then present their own credential. */
export const ENROLL_TOKEN = 'bench-enroll-token-0123456789';
/**
 * The checkout whose dist/ the bench starts processes from: this one, or, while a `--compare REV` round
 * measures the other commit, that commit's temporary worktree (bench/lib/compare.ts). Rounds run one side
 * at a time, so one setting, set and reset around each side by bench/lib/rounds.ts, is enough.
 */
let buildRoot = repoRoot;
export function useBuild(root: string | undefined): void {
  buildRoot = root ?? repoRoot;
}
const distBin = (): string => join(buildRoot, 'dist/src/bin/httpagent.js');
const uncheckedEntry = join(repoRoot, 'bench/lib/unchecked-controller.ts');

let keyFile: string | undefined;
/** The port-token signing key of the bench's controllers, written once per run. */
function signingKeyFile(): string {
  if (!keyFile) {
    keyFile = join(mkdtempSync(join(tmpdir(), 'httpagent-bench-key-')), 'signing-key.pem');
    writeFileSync(keyFile, ed25519Pem(), { mode: 0o600 });
  }
  return keyFile;
}

let signer: Promise<PortTokenSigner> | undefined;
/** Signs port tokens with the controllers' own key, so a bench agent takes them with or without a controller. */
const benchSigner = (): Promise<PortTokenSigner> => (signer ??= createPortTokenSigner(readFileSync(signingKeyFile(), 'utf8')));

/** A port token for one bench agent: what the platform would mint at POST /v1/agents/:id/token. */
export async function portToken(agentId: string): Promise<string> {
  return (await benchSigner()).mint(agentId, { ttlSec: 300 });
}

/**
 * Whether controllers check agent credentials and ids (`npm run bench -- --agent-checks=off` turns it
 * off for every figure; the agent-checks figure compares both itself). Off runs bench/lib/unchecked-controller.ts.
 */
let agentChecksDefault = true;
export function setAgentChecks(on: boolean): void {
  agentChecksDefault = on;
}

/** Every process the benchmarks started, so the harness can stop leftovers of a failed figure. */
const started = new Set<Spawned>();

export function spawnDist(args: string[], env: Record<string, string>, nodeArgs: string[] = []): Spawned {
  return spawnEntry(distBin(), env, nodeArgs, args);
}

/** A bench helper process from TypeScript source (the floor server, the log poster), tracked like the rest. */
export function spawnBenchScript(file: string, args: string[]): Spawned {
  return spawnEntry(file, {}, ['--import', 'tsx'], args);
}

function spawnEntry(entry: string, env: Record<string, string>, nodeArgs: string[] = [], args: string[] = []): Spawned {
  const proc = spawn(process.execPath, [...nodeArgs, entry, ...args], {
    cwd: buildRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', HTTPAGENT_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const s = track(proc);
  started.add(s);
  void s.exited().then(() => started.delete(s));
  return s;
}

/**
 * SIGTERM, then SIGKILL after `graceMs`: an idle agent drains by waiting for its claim in flight (up
 * to its claim wait, 10 s by default), which a benchmark has no reason to sit through.
 */
export async function stop(s: Spawned, graceMs = profiling ? 15_000 : 1000): Promise<void> {
  const timer = setTimeout(() => void s.kill('SIGKILL'), graceMs);
  await s.kill('SIGTERM');
  clearTimeout(timer);
}

/** SIGKILLs whatever spawnDist started that is still running (by pid, only ours). */
export async function killLeftovers(): Promise<void> {
  await Promise.all([...started].map((s) => s.kill('SIGKILL')));
}

export interface Controller {
  url: string;
  port: number;
  proc: Spawned;
}

/** Extra node flags for profiling, e.g. BENCH_CONTROLLER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const envArgs = (name: string): string[] => (process.env[name] ?? '').split(' ').filter(Boolean);
/** A profiled process writes its profile on a clean exit only: give it time to drain. */
const profiling = envArgs('BENCH_CONTROLLER_NODE_ARGS').length > 0 || envArgs('BENCH_AGENT_NODE_ARGS').length > 0;

export async function startController(
  redisUrl: string,
  extra: Record<string, string> = {},
  nodeArgs: string[] = envArgs('BENCH_CONTROLLER_NODE_ARGS'),
  opts: { agentChecks?: boolean } = {},
): Promise<Controller> {
  const port = await freePort();
  const env = {
    HTTPAGENT_REDIS_URL: redisUrl,
    HTTPAGENT_LISTEN: `127.0.0.1:${port}`,
    HTTPAGENT_ENROLL_TOKEN: ENROLL_TOKEN,
    HTTPAGENT_SIGNING_KEY_FILE: signingKeyFile(),
    HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN,
    ...extra,
  };
  const checks = opts.agentChecks ?? agentChecksDefault;
  // The unchecked entry imports dist/ itself; tsx only runs that small file.
  const proc = checks ? spawnDist(['controller'], env, nodeArgs) : spawnEntry(uncheckedEntry, env, ['--import', 'tsx', ...nodeArgs]);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, proc);
  return { url, port, proc };
}

export interface AgentProc {
  id: string;
  port: number;
  url: string;
  proc: Spawned;
  stateDir: string;
}

export async function startAgent(controllerUrl: string, id: string, extra: Record<string, string> = {}, nodeArgs: string[] = envArgs('BENCH_AGENT_NODE_ARGS')): Promise<AgentProc> {
  const port = await freePort();
  const stateDir = mkdtempSync(join(tmpdir(), `httpagent-${id}-`));
  const proc = spawnDist(['agent'], {
    HTTPAGENT_AGENT_ID: id,
    HTTPAGENT_CONTROLLER_URL: controllerUrl,
    HTTPAGENT_LISTEN: `127.0.0.1:${port}`,
    HTTPAGENT_ENROLL_TOKEN: ENROLL_TOKEN,
    // Pinned: the port takes tokens from this key even when no controller is there to hand it out.
    HTTPAGENT_PORT_TOKEN_KEYS_FILE: writePortKeysFile(stateDir, await benchSigner()),
    HTTPAGENT_STATE_DIR: stateDir,
    // Run as root, the agent starts tasks as its taskUser through setpriv (part of what is measured);
    // nobody exists on every host, httpagent-task only where install.sh made it.
    ...(process.getuid?.() === 0 ? { HTTPAGENT_TASK_USER: 'nobody' } : {}),
    ...extra,
  }, nodeArgs);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, proc);
  return { id, port, url, proc, stateDir };
}

export async function waitHttp(url: string, proc?: Spawned, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await request(url);
      await res.body.dump();
      if (res.statusCode < 500) return;
    } catch {
      /* not up yet */
    }
    if (proc && proc.proc.exitCode !== null) throw new Error(`process exited before ${url} answered:\n${proc.output().slice(-3000)}`);
    if (Date.now() > deadline) throw new Error(`${url} did not answer in time${proc ? `:\n${proc.output().slice(-3000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const redises = new Set<PrivateRedis>();

export async function withRedis<T>(fn: (redis: PrivateRedis) => Promise<T>, opts: { aof?: boolean } = {}): Promise<T> {
  const redis = await startRedis(opts);
  redises.add(redis);
  try {
    return await fn(redis);
  } finally {
    redises.delete(redis);
    await redis.stop();
  }
}

/** On Ctrl-C: every process and private Redis the benchmarks started, stopped before exiting. */
export async function stopEverything(): Promise<void> {
  await killLeftovers();
  await Promise.all([...redises].map((r) => r.stop()));
}

/** Resident set size of a process in MB, from /proc (Linux). */
export async function rssMb(pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = status.match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The most the process has held (VmHWM): what a host must have had free, whatever GC did since. */
export const peakRssMb = (pid: number): Promise<number> => rssMb(pid, 'VmHWM');
