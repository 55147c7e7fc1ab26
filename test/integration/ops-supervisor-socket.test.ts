// Regression: the monitor runs as the service user, and Debian's stock supervisord socket is 0700 root,
// so `supervisorctl status` fails with Permission denied. That used to be a permanent "FAILING supervisord"
// incident (and a reminder mail every few hours) on a healthy host. Now it is a setup problem: no
// observation, one mail naming the fix, remembered across monitor restarts, told again only if it comes
// back after being fixed. Real supervisord, real supervisorctl run as nobody, real SMTP. Needs root.
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluate, type AlertState } from '../../src/monitor/alerts/alert-engine.js';
import { compileMonitorOptions } from '../../src/monitor/monitor-options.js';
import { createCheckRunner } from '../../src/monitor/run-checks.js';
import { createSetupNotices, setupNoticesPath } from '../../src/monitor/setup-notices.js';
import { monitorConfigSchema } from '../../src/shared/config/index.js';
import { silentLogger } from '../../src/shared/log.js';
import { createMailer, type Mailer } from '../../src/shared/mailer.js';
import { startSmtp, startSupervisord, writeExecutable, type PrivateSmtp, type PrivateSupervisord } from './ops-helpers.js';

const asRoot = process.getuid?.() === 0;

let dir: string;
let sup: PrivateSupervisord;
let smtp: PrivateSmtp;
let mailer: Mailer;
let asNobody: string;

beforeAll(async () => {
  if (!asRoot) return;
  dir = mkdtempSync(join(tmpdir(), 'httpagent-socket-'));
  chmodSync(dir, 0o755); // nobody must reach supervisord's config to be refused by its socket
  smtp = await startSmtp();
  mailer = createMailer({ smtpUrl: smtp.url, from: 'monitor@example.test', to: ['ops@example.test'], logger: silentLogger() });
  const programs = join(dir, 'programs.conf');
  writeExecutable(programs, '[program:httpagent-agent]\ncommand=/bin/sleep 600\nstartsecs=0\n');
  chmodSync(programs, 0o644);
  sup = await startSupervisord(join(dir, 'sup'), [programs]); // its socket: chmod=0700, as Debian ships it
  asNobody = join(dir, 'supervisorctl-as-nobody');
  writeExecutable(asNobody, '#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups supervisorctl "$@"\n');
});

afterAll(async () => {
  if (!asRoot) return;
  mailer?.close();
  await sup?.shutdown();
  await smtp?.close();
  rmSync(dir, { recursive: true, force: true });
});

function options(stateDir: string) {
  const config = monitorConfigSchema.parse({ listen: '127.0.0.1:1', stateDir, supervisorConfig: sup.conf });
  return compileMonitorOptions(config, { underSupervisor: true });
}

/** The setup-problem mails, readable: folded headers unfolded, quoted-printable decoded. */
const setupMails = () =>
  smtp.messages
    .map((m) => m.replace(/\r?\n[ \t]+/g, ' ').replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_x, h: string) => String.fromCharCode(parseInt(h, 16))))
    .filter((m) => /setup problem/.test(m));

describe.skipIf(!asRoot)("the monitor against a supervisord socket that refuses its user", () => {
  it('observes nothing about supervisord, mails the fix once across rounds and restarts, and resolves an old incident', async () => {
    const stateDir = join(dir, 'state');
    const notices = () => createSetupNotices({ stateDir, host: 'h1', mailer, logger: silentLogger() });
    const runner = createCheckRunner(options(stateDir), asNobody, notices());
    const supervisorObs = (obs: { name: string }[]) => obs.filter((o) => o.name === 'supervisord' || o.name.startsWith('supervisor:'));

    for (let round = 0; round < 3; round++) expect(supervisorObs(await runner.run(undefined, Date.now()))).toEqual([]);
    expect(setupMails()).toHaveLength(1);
    // The user named is the monitor's own (here root; only the wrapper around supervisorctl is nobody).
    expect(setupMails()[0]).toMatch(/Subject: httpagent h1: setup problem: supervisord's socket refuses user \S+: its programs are not checked/);
    expect(setupMails()[0]).toMatch(/chown=root:/);
    expect(setupMails()[0]).toContain('--supervisor-socket-access');

    // A restarted monitor (a new runner, the same stateDir) does not mail it again.
    const restarted = createCheckRunner(options(stateDir), asNobody, notices());
    expect(supervisorObs(await restarted.run(undefined, Date.now()))).toEqual([]);
    expect(setupMails()).toHaveLength(1);

    // The false incident an older monitor opened is resolved as no longer checked, not kept open.
    const prev: AlertState = { updatedAt: 1, checks: { supervisord: { status: 'alerting', since: 1, lastNotifiedAt: 1, okCount: 0, okSince: null, flapping: false, detail: 'exited 1', incidents: [1] } } };
    const ev = evaluate(prev, await restarted.run(undefined, Date.now()), Date.now(), { afterFailures: 3, recoverAfter: 2, repeatMs: 60_000, flapIncidents: 3, flapWindowMs: 3_600_000 });
    expect(ev.events).toEqual([expect.objectContaining({ kind: 'resolved', check: 'supervisord', detail: 'no longer checked' })]);
    runner.close();
    restarted.close();
  });

  it('once access works the problem is forgotten, so its return is told again', async () => {
    const stateDir = join(dir, 'state');
    const notices = createSetupNotices({ stateDir, host: 'h1', mailer, logger: silentLogger() });
    const before = setupMails().length;
    const asRootRunner = createCheckRunner(options(stateDir), undefined, notices);
    const obs = await asRootRunner.run(undefined, Date.now());
    expect(obs.find((o) => o.name === 'supervisord')).toMatchObject({ ok: true });
    expect(obs.find((o) => o.name === 'supervisor:httpagent-agent')).toBeDefined();
    expect(JSON.parse(readFileSync(setupNoticesPath(stateDir), 'utf8'))).toEqual({ told: [] });

    const refusedAgain = createCheckRunner(options(stateDir), asNobody, notices);
    await refusedAgain.run(undefined, Date.now());
    expect(setupMails()).toHaveLength(before + 1);
    asRootRunner.close();
    refusedAgain.close();
  });
});
