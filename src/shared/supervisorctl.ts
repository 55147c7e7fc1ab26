// supervisorctl as a function: run it without a shell, parse its status lines, and tell why it failed.
// The monitor's supervisord check and the update guard (which starts a FATAL agent after a rollback)
// both speak to supervisord this way.
import { execFile } from 'node:child_process';

/** Where supervisord listens: its config (supervisorctl -c) or its server URL (-s, e.g. unix:///run/supervisor.sock). */
export interface SupervisorctlTarget {
  configFile?: string | undefined;
  serverUrl?: string | undefined;
  /** The executable (tests point this at a wrapper). */
  command?: string | undefined;
}

export const PROGRAM_STATES = ['STOPPED', 'STARTING', 'RUNNING', 'BACKOFF', 'STOPPING', 'EXITED', 'FATAL', 'UNKNOWN'] as const;
export type ProgramState = (typeof PROGRAM_STATES)[number];

export interface StatusLine {
  /** `group:name`, or `name` for a program alone in its group. */
  name: string;
  state: ProgramState;
  /** What follows the state (pid and uptime, or why it exited). */
  detail: string;
}

/**
 * Why supervisorctl gave no answer:
 * - unreachable: supervisord does not run (no socket, connection refused);
 * - permission: the socket exists but this user may not use it (Debian's stock socket is 0700 root):
 *   a setup problem, not a failing service;
 * - not-installed: supervisorctl itself cannot be run;
 * - other: anything else (the detail says what).
 */
export type SupervisorctlFailure = 'unreachable' | 'permission' | 'not-installed' | 'other';

export interface SupervisorctlResult {
  /** Exit code; undefined when it could not be run or was killed. */
  code: number | undefined;
  /** stdout then stderr. */
  out: string;
  /** Set when the command could not even start (ENOENT, EACCES on the executable). */
  spawnError?: string | undefined;
}

const LINE = new RegExp(`^(\\S+)\\s+(${PROGRAM_STATES.join('|')})\\b\\s*(.*)$`);

/** One `supervisorctl status` line, or undefined for anything else. */
export function parseStatusLine(raw: string): StatusLine | undefined {
  const m = LINE.exec(raw.trim());
  return m ? { name: m[1]!, state: m[2] as ProgramState, detail: m[3] ?? '' } : undefined;
}

/**
 * Classifies a run that produced no status line. supervisorctl 4.x exits 4 when it cannot connect (and also
 * for an unknown program name, which the caller sees as a `no such process` line instead), and 1 with a
 * Python PermissionError when the socket refuses this user.
 */
export function classifyFailure(r: SupervisorctlResult): SupervisorctlFailure {
  if (r.spawnError) return 'not-installed';
  if (/PermissionError|Permission denied|Errno 13/.test(r.out)) return 'permission';
  if (r.code === 4 || /no such file|refused connection|Connection refused|SHUTDOWN_STATE/i.test(r.out)) return 'unreachable';
  return 'other';
}

/** Runs supervisorctl with `args` against `target`; never rejects. */
export function supervisorctl(target: SupervisorctlTarget, args: readonly string[], timeoutMs: number): Promise<SupervisorctlResult> {
  const base = [...(target.configFile ? ['-c', target.configFile] : []), ...(target.serverUrl ? ['-s', target.serverUrl] : [])];
  return new Promise((resolve) => {
    execFile(target.command ?? 'supervisorctl', [...base, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
      if (e && typeof e.code === 'string') {
        resolve({ code: undefined, out: `${stdout}${stderr}`, spawnError: e.code });
        return;
      }
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : undefined) : 0, out: `${stdout}\n${stderr}` });
    });
  });
}
