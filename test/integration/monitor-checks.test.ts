// Health checks against real things: a private supervisord, real child processes, HTTP servers.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpCheck } from '../../src/monitor/checks/http-check.js';
import { createHttpCaller } from '../../src/monitor/monitor-http.js';
import { patternCheck, pidfileCheck } from '../../src/monitor/checks/process-check.js';
import { supervisorCheck } from '../../src/monitor/checks/supervisor-check.js';
import { waitUntil } from '../helpers/wait.js';

let dir: string;
let supervisord: ChildProcess | undefined;
let sleeper: ChildProcess;
let silent: Server;
const marker = `httpagent-monitor-test-${process.pid}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'monitor-checks-'));
  // A child whose command line carries a unique marker for the pattern check.
  sleeper = spawn('/bin/sleep', ['300'], { stdio: 'ignore', argv0: marker, detached: true });
  // A server that accepts requests and never answers, for the timeout path.
  silent = createServer(() => {});
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
});

afterAll(async () => {
  sleeper.kill('SIGKILL');
  silent.closeAllConnections();
  await new Promise<void>((r) => silent.close(() => r()));
  if (supervisord && supervisord.exitCode === null) {
    const exited = new Promise((r) => supervisord!.once('exit', r));
    supervisord.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('supervisord check', () => {
  it('passes running programs, fails stopped ones, and fails supervisord when it is down', async () => {
    const conf = join(dir, 'supervisord.conf');
    writeFileSync(
      conf,
      [
        '[unix_http_server]',
        `file=${dir}/supervisor.sock`,
        '[supervisord]',
        `logfile=${dir}/supervisord.log`,
        `pidfile=${dir}/supervisord.pid`,
        `childlogdir=${dir}`,
        'nodaemon=true',
        'user=root',
        '[rpcinterface:supervisor]',
        'supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
        '[supervisorctl]',
        `serverurl=unix://${dir}/supervisor.sock`,
        '[program:good]',
        'command=/bin/sleep 300',
        'startsecs=0',
        '[program:idle]',
        'command=/bin/sleep 300',
        'autostart=false',
        '',
      ].join('\n'),
    );
    // Before supervisord runs: its socket is missing, which is the check's own failure.
    const down = await supervisorCheck({ programs: [], configFile: conf, timeoutMs: 5000 });
    expect(down[0]).toMatchObject({ name: 'supervisord', ok: false });

    supervisord = spawn('supervisord', ['-c', conf], { stdio: 'ignore', detached: true });
    const obs = await waitUntil('supervisor:good running', async () => {
      const o = await supervisorCheck({ programs: [], configFile: conf, timeoutMs: 5000 });
      return o.find((x) => x.name === 'supervisor:good')?.ok ? o : undefined;
    });
    expect(obs.map((o) => [o.name, o.ok])).toEqual([
      ['supervisord', true],
      ['supervisor:good', true],
      ['supervisor:idle', false],
    ]);
    const only = await supervisorCheck({ programs: ['good', 'missing'], configFile: conf, timeoutMs: 5000 });
    // supervisorctl prints the unknown name first and exits 4: still an answer from supervisord
    expect(only.map((o) => [o.name, o.ok]).sort()).toEqual([
      ['supervisor:good', true],
      ['supervisor:missing', false],
      ['supervisord', true],
    ]);
  });
});

describe('process checks', () => {
  it('checks a pid file: alive, dead, unreadable', async () => {
    const alive = join(dir, 'alive.pid');
    writeFileSync(alive, `${sleeper.pid}\n`);
    expect((await pidfileCheck('p', alive)).ok).toBe(true);
    const dead = spawn('/bin/true');
    await new Promise((r) => dead.once('exit', r));
    writeFileSync(join(dir, 'dead.pid'), String(dead.pid));
    expect((await pidfileCheck('p', join(dir, 'dead.pid'))).ok).toBe(false);
    expect((await pidfileCheck('p', join(dir, 'none.pid'))).ok).toBe(false);
  });

  it('finds a process by its command line, not the monitor itself', async () => {
    const found = await patternCheck('p', `^${marker} 300$`);
    expect(found.ok).toBe(true);
    expect(found.detail).toContain(String(sleeper.pid));
    expect((await patternCheck('p', `no-such-${marker}-x`)).ok).toBe(false);
    expect((await patternCheck('p', '(')).ok).toBe(false);
  });
});

describe('http check', () => {
  it('fails on a refused connection and on a server that never answers', async () => {
    const caller = createHttpCaller();
    const refused = await httpCheck('h', 'http://127.0.0.1:1/healthz', 1000, caller);
    expect(refused.ok).toBe(false);
    const port = (silent.address() as AddressInfo).port;
    const slow = await httpCheck('h', `http://127.0.0.1:${port}/healthz`, 300, caller);
    expect(slow.ok).toBe(false);
    expect(slow.detail).toContain('no answer within 300 ms');
    caller.close();
  });
});
