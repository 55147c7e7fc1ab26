// The supervisord status of the guarded programs, through `supervisorctl status` (execa, no shell).
import { execFile } from 'node:child_process';
import type { Observation } from '../alerts/alert-engine.js';

const STATES = 'STOPPED|STARTING|RUNNING|BACKOFF|STOPPING|EXITED|FATAL|UNKNOWN';
const LINE = new RegExp(`^(\\S+)\\s+(${STATES})\\b\\s*(.*)$`);

export interface SupervisorCheckOptions {
  programs: readonly string[];
  configFile?: string | undefined;
  timeoutMs: number;
  /** The supervisorctl executable (tests point this at a fake script on PATH-free setups). */
  command?: string;
}

/**
 * Turns supervisorctl's output and exit code into one observation per program (`supervisor:NAME`, passing
 * only when RUNNING: a program cycling through STARTING/BACKOFF is not healthy), plus `supervisord`
 * itself, which fails when nothing could be parsed. The exit code alone cannot tell: supervisorctl 4.x
 * exits 3 when a program is not running and 4 both when the daemon is unreachable and when a named
 * program does not exist.
 */
export function parseSupervisorStatus(stdout: string, exitCode: number | undefined, programs: readonly string[]): Observation[] {
  const out: Observation[] = [];
  const seen = new Set<string>();
  let answered = false;
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    const m = LINE.exec(line);
    if (m) {
      answered = true;
      seen.add(m[1]!);
      out.push({ name: `supervisor:${m[1]}`, ok: m[2] === 'RUNNING', detail: `${m[2]}${m[3] ? ` ${m[3]}` : ''}`.slice(0, 300) });
      continue;
    }
    const missing = /^(\S+?):?\s+ERROR \(no such process\)/.exec(line);
    if (missing) {
      answered = true;
      seen.add(missing[1]!);
      out.push({ name: `supervisor:${missing[1]}`, ok: false, detail: 'no such program in supervisord' });
    }
  }
  if (!answered) {
    const detail = `supervisorctl status exited ${exitCode ?? '?'}: ${stdout.trim().split('\n')[0]?.slice(0, 200) ?? ''}`;
    return [{ name: 'supervisord', ok: false, detail }];
  }
  for (const p of programs) if (!seen.has(p)) out.push({ name: `supervisor:${p}`, ok: false, detail: 'not listed by supervisorctl status' });
  return [{ name: 'supervisord', ok: true, detail: 'reachable' }, ...out];
}

/**
 * node's execFile rather than execa: both run the program without a shell, and execa would add ~15 MB
 * of RSS to the idle monitor for one short command every interval.
 */
export function supervisorCheck(opts: SupervisorCheckOptions): Promise<Observation[]> {
  const args = [...(opts.configFile ? ['-c', opts.configFile] : []), 'status', ...opts.programs];
  return new Promise((resolve) => {
    execFile(opts.command ?? 'supervisorctl', args, { timeout: opts.timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
      if (e && typeof e.code === 'string') {
        // ENOENT and friends: supervisorctl is not installed or not on PATH
        resolve([{ name: 'supervisord', ok: false, detail: `cannot run supervisorctl: ${e.code}` }]);
        return;
      }
      const exitCode = e ? (typeof e.code === 'number' ? e.code : undefined) : 0;
      resolve(parseSupervisorStatus(`${stdout}\n${stderr}`, exitCode, opts.programs));
    });
  });
}
