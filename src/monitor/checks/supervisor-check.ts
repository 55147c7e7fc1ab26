// The supervisord status of the guarded programs, through `supervisorctl status` (no shell).
import { userInfo } from 'node:os';
import { classifyFailure, parseStatusLine, supervisorctl } from '../../shared/supervisorctl.js';
import type { Observation } from '../alerts/alert-engine.js';
import type { SetupProblem } from '../setup-notices.js';

export interface SupervisorCheckOptions {
  programs: readonly string[];
  configFile?: string | undefined;
  timeoutMs: number;
  /** The supervisorctl executable (tests point this at a wrapper). */
  command?: string;
  /** Told when the check cannot run because of how the host is set up (see SOCKET_PERMISSION). */
  onSetupProblem?: (p: SetupProblem) => void;
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
    const status = parseStatusLine(line);
    if (status) {
      answered = true;
      seen.add(status.name);
      out.push({ name: `supervisor:${status.name}`, ok: status.state === 'RUNNING', detail: `${status.state}${status.detail ? ` ${status.detail}` : ''}`.slice(0, 300) });
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
 * The socket refuses this user (Debian's stock socket is 0700 root, the monitor runs as the service user):
 * supervisord may be perfectly healthy, so this is no failing service and no incident, but a setup to fix.
 */
export function socketPermissionProblem(configFile: string | undefined, user: string): SetupProblem {
  const conf = configFile ?? '/etc/supervisor/supervisord.conf';
  return {
    key: 'supervisor-socket-permission',
    summary: `supervisord's socket refuses user ${user}: its programs are not checked`,
    fix:
      `Give the monitor's user access to supervisord's socket: in ${conf}, section [unix_http_server], set ` +
      `chown=root:<the service user's group> and chmod=0770, then restart supervisord (install.sh does this with ` +
      `--supervisor-socket-access). Until then the agent's own /healthz check still runs.`,
  };
}

/**
 * Each run is one short supervisorctl; node's execFile rather than execa, which would add ~15 MB of RSS
 * to the idle monitor for one short command every interval.
 */
export async function supervisorCheck(opts: SupervisorCheckOptions): Promise<Observation[]> {
  const r = await supervisorctl({ configFile: opts.configFile, command: opts.command }, ['status', ...opts.programs], opts.timeoutMs);
  if (r.spawnError) return [{ name: 'supervisord', ok: false, detail: `cannot run supervisorctl: ${r.spawnError}` }];
  const obs = parseSupervisorStatus(r.out, r.code, opts.programs);
  if (obs.length === 1 && !obs[0]!.ok && classifyFailure(r) === 'permission') {
    // Not observed at all rather than passing or failing: an incident opened by an older monitor resolves
    // as "no longer checked", and the problem is told once, with its fix, by the setup notices.
    opts.onSetupProblem?.(socketPermissionProblem(opts.configFile, userName()));
    return [];
  }
  return obs;
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`; // no passwd entry
  }
}
