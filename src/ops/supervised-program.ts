// The agent's own supervisord program, as the update guard sees it: its state, and a start when
// supervisord gave up on it (FATAL) or it is stopped. The program and server come from the SUPERVISOR_*
// variables supervisord puts in the agent's environment, which the guard inherits.
import { classifyFailure, parseStatusLine, supervisorctl, type ProgramState, type SupervisorctlFailure, type SupervisorctlTarget } from '../shared/supervisorctl.js';

export interface SupervisedProgram {
  target: SupervisorctlTarget;
  /** `group:name`, as supervisorctl takes it. */
  name: string;
}

/** The program from supervisord's variables, or undefined when the agent does not run under supervisord. */
export function supervisedProgramFromEnv(env: Record<string, string | undefined>): SupervisedProgram | undefined {
  const url = env.SUPERVISOR_SERVER_URL;
  const name = env.SUPERVISOR_PROCESS_NAME;
  if (!url || !name) return undefined;
  return { target: { serverUrl: url }, name: `${env.SUPERVISOR_GROUP_NAME ?? name}:${name}` };
}

export type ProgramLook = { state: ProgramState; detail: string } | { state: 'unknown'; failure: SupervisorctlFailure; detail: string };

const TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 60_000;

export async function programState(p: SupervisedProgram): Promise<ProgramLook> {
  const r = await supervisorctl(p.target, ['status', p.name], TIMEOUT_MS);
  for (const line of r.out.split('\n')) {
    const s = parseStatusLine(line);
    if (s && s.name === p.name) return { state: s.state, detail: s.detail };
  }
  return { state: 'unknown', failure: classifyFailure(r), detail: firstLine(r.out) || (r.spawnError ?? `exit ${r.code ?? '?'}`) };
}

/**
 * `supervisorctl start`; resolves with what went wrong, or undefined when it started. supervisorctl waits
 * until the program has lived startsecs (or failed), so it gets a minute; when it is cut short, the state
 * decides.
 */
export async function startProgram(p: SupervisedProgram): Promise<{ failure: SupervisorctlFailure; detail: string } | undefined> {
  const r = await supervisorctl(p.target, ['start', p.name], START_TIMEOUT_MS);
  // "ERROR (already started)" is no failure: someone (the watchdog, supervisord's own retry) was first.
  if (r.code === 0 || /already started/.test(r.out)) return undefined;
  if (r.code === undefined && !r.spawnError) {
    const look = await programState(p);
    if (look.state === 'RUNNING' || look.state === 'STARTING') return undefined;
  }
  return { failure: classifyFailure(r), detail: firstLine(r.out) || (r.spawnError ?? `exit ${r.code ?? '?'}`) };
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 300) ?? '';
}
