// Spawning httpagent processes the way production runs them: separate OS processes, each in a process
// group of its own (detached), so a teardown can signal it and whatever it started as one.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OWNER_ENV, ownerTag } from './process-registry.js';
import { asRoot, testTaskUserEnv } from './task-user.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** The compiled CLI: test/setup/build.ts compiles dist/ before any test file runs. */
export const binJs = join(repoRoot, 'dist/src/bin/httpagent.js');

export interface Spawned {
  proc: ChildProcess;
  /** Everything printed so far (stdout + stderr). */
  output(): string;
  /** Resolves when a line matching `re` has been printed; rejects once the process ended without it. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited(): Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * An agent's test settings: started as root it runs its tasks as `nobody` unless the env names another
 * taskUser (see task-user.ts); and its tasks carry this worker's owner tag as a setting, since they
 * inherit nothing of the agent's environment and teardown finds escaped processes by that tag.
 */
export function agentTestEnv(env: Record<string, string>): Record<string, string> {
  const taskEnv = { [OWNER_ENV]: ownerTag, ...(env.HTTPAGENT_TASK_ENV ? (JSON.parse(env.HTTPAGENT_TASK_ENV) as Record<string, string>) : {}) };
  return { ...(asRoot ? testTaskUserEnv : {}), ...env, HTTPAGENT_TASK_ENV: JSON.stringify(taskEnv) };
}

/** Runs `httpagent ...args` (compiled), with only the env given (plus PATH/HOME; agentTestEnv for an agent). */
export function spawnHttpagent(args: string[], env: Record<string, string> = {}): Spawned {
  const proc = spawn(process.execPath, [binJs, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...(args[0] === 'agent' ? agentTestEnv(env) : env) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  return track(proc);
}

export function track(proc: ChildProcess): Spawned {
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const l of listeners) l();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exit = new Promise<number | string>((resolve) => {
    if (proc.exitCode !== null) return resolve(proc.exitCode);
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  // 'close' comes after the last output: from then on a line that has not appeared never will.
  const closed = new Promise<void>((resolve) => {
    if (proc.exitCode !== null && !proc.stdout && !proc.stderr) return resolve();
    proc.once('close', () => resolve());
  });
  return {
    proc,
    output: () => out,
    waitFor: (re, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        let done = false;
        const finish = (err?: Error, line?: string) => {
          if (done) return;
          done = true;
          listeners.delete(check);
          clearTimeout(timer);
          if (err) reject(err);
          else resolve(line!);
        };
        const check = () => {
          const m = out.match(re);
          if (m) finish(undefined, m[0]);
        };
        const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${re} in output:\n${out.slice(-4000)}`)), timeoutMs);
        listeners.add(check);
        check();
        void closed.then(() => {
          check();
          finish(new Error(`exited (${proc.exitCode ?? proc.signalCode}) without printing ${re}; output:\n${out.slice(-4000)}`));
        });
      }),
    exited: () => exit,
    kill: async (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exit;
    },
  };
}

/** Running and not a zombie: an orphan whose new parent (a container's pid 1) never reaps it stays a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}
