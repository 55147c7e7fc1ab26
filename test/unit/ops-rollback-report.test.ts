// What the guard says after a rollback, and how supervisorctl's answers are read: the mail must never
// say the agent is back when it is not, and a socket that refuses the user is told apart from a dead
// supervisord.
import { describe, expect, it } from 'vitest';
import { rollbackMail, type RollbackReport } from '../../src/ops/rollback-report.js';
import { supervisedProgramFromEnv } from '../../src/ops/supervised-program.js';
import { classifyFailure, parseStatusLine } from '../../src/shared/supervisorctl.js';

const base: RollbackReport = {
  agentId: 'a1',
  pending: { from: 'aaaaaaaaaaaa', to: 'bbbbbbbbbbbb', commit: 'b'.repeat(40), switchedAt: '2026-01-01T00:00:00.000Z', deadline: 0 },
  healthUrl: 'http://127.0.0.1:9889/healthz',
  reason: 'supervisord gave up starting it (FATAL: Exited too quickly)',
  actions: ['switched current back to aaaaaaaaaaaa', 'httpagent:httpagent-agent was FATAL: started it (supervisorctl start)'],
  serving: true,
  seen: 'reports commit ' + 'a'.repeat(40),
  remedy: 'Start it: supervisorctl start httpagent:httpagent-agent',
};

describe('the rollback mail', () => {
  it('says the old release serves again only when /healthz showed it, with what was done', () => {
    const m = rollbackMail(base);
    expect(m.subject).toBe('httpagent a1: update to bbbbbbbbbbbb rolled back; aaaaaaaaaaaa serves again');
    expect(m.text).toContain('FATAL: Exited too quickly');
    expect(m.text).toContain('- httpagent:httpagent-agent was FATAL: started it');
    expect(m.text).not.toContain('supervisorctl start httpagent');
  });

  it('says the agent is NOT serving, and what to run, when it does not come back', () => {
    const m = rollbackMail({ ...base, serving: false, seen: 'did not answer 60 s after the rollback', actions: ['httpagent:httpagent-agent was FATAL: starting it FAILED: Permission denied'] });
    expect(m.subject).toBe('httpagent a1: update to bbbbbbbbbbbb rolled back, but the agent is NOT serving');
    expect(m.text).toContain('does NOT serve: http://127.0.0.1:9889/healthz did not answer 60 s after the rollback');
    expect(m.text).toContain('supervisorctl start httpagent:httpagent-agent');
    expect(m.text).not.toMatch(/serves again/);
  });
});

describe('supervisorctl', () => {
  it('reads status lines, grouped or not', () => {
    expect(parseStatusLine('httpagent:httpagent-agent        FATAL     Exited too quickly (process log may have details)')).toEqual({
      name: 'httpagent:httpagent-agent',
      state: 'FATAL',
      detail: 'Exited too quickly (process log may have details)',
    });
    expect(parseStatusLine('web    RUNNING   pid 4242, uptime 1:02:03')?.state).toBe('RUNNING');
    expect(parseStatusLine('unix:///var/run/supervisor.sock no such file')).toBeUndefined();
  });

  it("tells a socket that refuses this user from a supervisord that is not running", () => {
    // Captured from supervisorctl 4.2.5 as an unprivileged user against Debian's 0700 socket, and with no supervisord.
    const denied = "error: <class 'PermissionError'>, [Errno 13] Permission denied: file: /usr/lib/python3/dist-packages/supervisor/xmlrpc.py line: 557\n";
    expect(classifyFailure({ code: 1, out: denied })).toBe('permission');
    expect(classifyFailure({ code: 4, out: 'unix:///var/run/supervisor.sock no such file\n' })).toBe('unreachable');
    expect(classifyFailure({ code: 4, out: 'unix:///var/run/supervisor.sock refused connection\n' })).toBe('unreachable');
    expect(classifyFailure({ code: undefined, out: '', spawnError: 'ENOENT' })).toBe('not-installed');
  });

  it("names the agent's program from supervisord's variables, and nothing outside supervisord", () => {
    expect(supervisedProgramFromEnv({ SUPERVISOR_SERVER_URL: 'unix:///run/supervisor.sock', SUPERVISOR_GROUP_NAME: 'httpagent', SUPERVISOR_PROCESS_NAME: 'httpagent-agent' })).toEqual({
      target: { serverUrl: 'unix:///run/supervisor.sock' },
      name: 'httpagent:httpagent-agent',
    });
    expect(supervisedProgramFromEnv({ PATH: '/usr/bin' })).toBeUndefined();
  });
});
