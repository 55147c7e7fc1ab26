// A process health check: a pid file whose process is alive, or some process whose command line matches.
import { readdir, readFile } from 'node:fs/promises';
import type { Observation } from '../alerts/alert-engine.js';

function alive(pid: number): boolean {
  try {
    // Signal 0 checks existence without touching the process; EPERM still means it exists.
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function pidfileCheck(name: string, pidfile: string): Promise<Observation> {
  let text: string;
  try {
    text = await readFile(pidfile, 'utf8');
  } catch (err) {
    return { name, ok: false, detail: `cannot read ${pidfile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0) return { name, ok: false, detail: `${pidfile} holds no pid` };
  return alive(pid) ? { name, ok: true, detail: `pid ${pid} alive` } : { name, ok: false, detail: `pid ${pid} from ${pidfile} is not running` };
}

/**
 * Scans /proc/PID/cmdline directly (no pgrep, no shell): arguments are joined by spaces before matching.
 * The monitor's own process is excluded, since its config holds the pattern too.
 */
export async function patternCheck(name: string, pattern: string, procRoot = '/proc'): Promise<Observation> {
  let re: RegExp;
  try {
    re = new RegExp(pattern);
  } catch {
    return { name, ok: false, detail: `invalid pattern ${JSON.stringify(pattern)}` };
  }
  const entries = await readdir(procRoot).catch(() => [] as string[]);
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    let cmd: string;
    try {
      cmd = (await readFile(`${procRoot}/${e}/cmdline`, 'utf8')).replace(/\0+$/, '').replace(/\0/g, ' ');
    } catch {
      continue; // exited while we looked
    }
    if (cmd && re.test(cmd)) return { name, ok: true, detail: `pid ${e} matches` };
  }
  return { name, ok: false, detail: `no process matches /${pattern}/` };
}
