// Spawning httpagent processes the way production runs them: separate OS processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const binTs = join(repoRoot, 'src/bin/httpagent.ts');

export interface Spawned {
  proc: ChildProcess;
  /** Everything printed so far (stdout + stderr). */
  output(): string;
  /** Resolves when a line matching `re` has been printed. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited(): Promise<number | string>;
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Runs `httpagent ...args` from source through tsx, with only the env given (plus PATH/HOME). */
export function spawnHttpagent(args: string[], env: Record<string, string> = {}): Spawned {
  const proc = spawn(process.execPath, ['--import', 'tsx', binTs, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: false,
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
  return {
    proc,
    output: () => out,
    waitFor: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(m[0]);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re} in output:\n${out.slice(-4000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
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
