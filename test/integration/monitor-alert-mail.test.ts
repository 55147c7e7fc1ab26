// The alert flow end to end without the controller: real HTTP checks against a real server, the alert
// engine, the notifier and nodemailer delivering to a real SMTP server. Rounds are driven by hand on
// a synthetic clock so the test runs in well under a second of waiting.
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/shared/log.js';
import { emptyAlertState, evaluate, type AlertPolicy, type AlertState } from '../../src/monitor/alerts/alert-engine.js';
import { alertStatePath, readLocalAlertState, writeLocalAlertState } from '../../src/monitor/alerts/alert-state-store.js';
import { createMailer } from '../../src/shared/mailer.js';
import { createNotifier, type Notifier } from '../../src/monitor/alerts/alert-notifier.js';
import { compileMonitorOptions } from '../../src/monitor/monitor-options.js';
import { createCheckRunner, type CheckRunner } from '../../src/monitor/run-checks.js';
import { monitorConfigSchema } from '../../src/shared/config/index.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { freePort } from '../helpers/ports.js';

let smtp: SmtpSink;
let server: Server;
/** Which paths of the fake agent answer 200; the rest answer 503. */
const healthy = new Set<string>();
let base = '';
let dir = '';

beforeAll(async () => {
  smtp = await startSmtpSink();
  server = createServer((req, res) => {
    res.statusCode = healthy.has(req.url ?? '') ? 200 : 503;
    res.end(res.statusCode === 200 ? 'ok' : 'down');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = mkdtempSync(join(tmpdir(), 'monitor-alerts-'));
});

afterAll(async () => {
  await smtp.close();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  smtp.mails.length = 0;
  healthy.clear();
});

const policy: AlertPolicy = { afterFailures: 3, recoverAfter: 2, repeatMs: 60_000, flapIncidents: 3, flapWindowMs: 3_600_000 };

/** One monitor's alert side, wired the way createMonitor wires it, with rounds run on demand. */
function harness(extra: { name: string; path: string }[] = [], start: AlertState = emptyAlertState()) {
  const config = monitorConfigSchema.parse({
    listen: base,
    smtpUrl: smtp.url,
    alertTo: ['ops@example.test'],
    alertFrom: 'monitor@example.test',
    extraChecks: extra.map((e) => ({ name: e.name, type: 'http', url: `http://${base}${e.path}`, timeoutMs: 2000 })),
    alertCpuPercent: 100,
    alertMemoryPercent: 100,
    alertDiskPercent: 100,
  });
  const o = compileMonitorOptions(config, { underSupervisor: false });
  const runner: CheckRunner = createCheckRunner(o);
  const mailer = createMailer({ smtpUrl: o.smtpUrl, from: o.alertFrom, to: o.alertTo, logger: silentLogger() });
  const notifier: Notifier = createNotifier({ host: 'host-1', groupMs: 0, mailer, logger: silentLogger() });
  let state = start;
  let clock = 1_700_000_000_000;
  return {
    async round() {
      clock += 10_000;
      const r = evaluate(state, await runner.run(undefined, clock), clock, policy);
      state = r.state;
      notifier.push(r.events);
      await notifier.flush();
      return r.events;
    },
    async rounds(n: number) {
      for (let i = 0; i < n; i++) await this.round();
    },
    state: () => state,
    async close() {
      await notifier.close();
      mailer.close();
      runner.close();
    },
  };
}

const subjects = () => smtp.mails.map((m) => m.subject);

describe('alert mail', () => {
  it('mails once after N failures, never repeats, reminds after the repeat interval, mails recovery', async () => {
    healthy.add('/healthz');
    const h = harness();
    await h.rounds(2);
    expect(smtp.mails).toHaveLength(0);
    healthy.delete('/healthz');
    await h.rounds(2);
    expect(smtp.mails).toHaveLength(0);
    await h.round(); // third failure in a row
    expect(subjects()).toEqual(['[httpagent] host-1: FAILING agent']);
    expect(smtp.mails[0]!.to).toEqual(['ops@example.test']);
    expect(smtp.mails[0]!.raw).toContain('HTTP 503');
    await h.rounds(5); // 50 s more: still within the 60 s repeat interval
    expect(smtp.mails).toHaveLength(1);
    await h.round(); // 60 s after the first mail
    expect(subjects()[1]).toBe('[httpagent] host-1: STILL FAILING agent');
    healthy.add('/healthz');
    await h.round();
    expect(smtp.mails).toHaveLength(2); // one success is not a recovery
    await h.round();
    expect(subjects()[2]).toBe('[httpagent] host-1: RECOVERED agent');
    await h.rounds(3);
    expect(smtp.mails).toHaveLength(3);
    await h.close();
  });

  it('puts failures that start together in one mail', async () => {
    healthy.add('/healthz');
    const h = harness([
      { name: 'web', path: '/web' },
      { name: 'db', path: '/db' },
    ]);
    await h.rounds(3);
    expect(subjects()).toEqual(['[httpagent] host-1: FAILING check:web, check:db']);
    healthy.add('/web');
    healthy.add('/db');
    await h.rounds(2);
    expect(subjects()[1]).toBe('[httpagent] host-1: RECOVERED check:web, check:db');
    await h.close();
  });

  it('sends no storm when a check flaps', async () => {
    const h = harness();
    // up/down every round for a while: never N failures in a row, so nothing to say
    for (let i = 0; i < 20; i++) {
      if (i % 2) healthy.add('/healthz');
      else healthy.delete('/healthz');
      await h.round();
    }
    expect(smtp.mails).toHaveLength(0);
    // down 3, up 2, over and over (300 s): two incidents, then a third marked flapping that stays open
    for (let i = 0; i < 30; i++) {
      if (i % 5 < 3) healthy.delete('/healthz');
      else healthy.add('/healthz');
      await h.round();
    }
    expect(subjects().slice(0, 5)).toEqual([
      '[httpagent] host-1: FAILING agent',
      '[httpagent] host-1: RECOVERED agent',
      '[httpagent] host-1: FAILING agent',
      '[httpagent] host-1: RECOVERED agent',
      '[httpagent] host-1: FAILING agent',
    ]);
    // after that only reminders, at most one per 60 s repeat interval: 3 in the remaining 180 s
    expect(subjects().slice(5)).toEqual(Array(subjects().length - 5).fill('[httpagent] host-1: STILL FAILING agent'));
    expect(subjects().length).toBeLessThanOrEqual(8);
    expect(smtp.mails[4]!.raw).toContain('flapping');
    await h.close();
  });

  it('keeps an incident across a restart: no repeat, no forgetting', async () => {
    const path = alertStatePath(dir);
    const first = harness();
    await first.rounds(3);
    expect(smtp.mails).toHaveLength(1);
    await writeLocalAlertState(path, first.state());
    await first.close();

    const loaded = await readLocalAlertState(path);
    expect(loaded?.checks.agent?.status).toBe('alerting');
    const second = harness([], loaded!);
    await second.rounds(2);
    expect(smtp.mails).toHaveLength(1); // the restart did not fire the incident again
    healthy.add('/healthz');
    await second.rounds(2);
    expect(subjects()).toEqual(['[httpagent] host-1: FAILING agent', '[httpagent] host-1: RECOVERED agent']);
    await second.close();
  });

  it('keeps the mail while SMTP is down and delivers it when SMTP is back', async () => {
    const port = await freePort();
    const mailer = createMailer({ smtpUrl: `smtp://127.0.0.1:${port}`, from: 'm@example.test', to: ['ops@example.test'], logger: silentLogger(), timeoutMs: 2000 });
    const notifier = createNotifier({ host: 'host-2', groupMs: 0, mailer, logger: silentLogger(), retryMs: 60_000 });
    notifier.push([{ kind: 'firing', check: 'agent', since: 0, at: 1000, detail: 'down', flapping: false }]);
    await notifier.flush();
    expect(notifier.pending()).toBe(1);
    const late = await startSmtpSink(port);
    try {
      notifier.push([{ kind: 'firing', check: 'disk:/', since: 0, at: 2000, detail: 'full', flapping: false }]);
      await notifier.flush();
      expect(notifier.pending()).toBe(0);
      expect(late.mails.map((m) => m.subject)).toEqual(['[httpagent] host-2: FAILING agent, disk:/']);
    } finally {
      await notifier.close();
      mailer.close();
      await late.close();
    }
  });
});
