// Pure parts of the health checks: supervisorctl output, threshold hold times, the sample ring, URLs.
import { describe, expect, it } from 'vitest';
import { agentHealthUrl } from '../../src/monitor/checks/http-check.js';
import { parseSupervisorStatus } from '../../src/monitor/checks/supervisor-check.js';
import { thresholdChecks, type OverSince } from '../../src/monitor/checks/threshold-checks.js';
import type { HostFigures } from '../../src/monitor/collectors/host-sampler.js';
import { createSampleBuffer } from '../../src/monitor/sample-buffer.js';
import { compileMonitorOptions } from '../../src/monitor/monitor-options.js';
import { monitorConfigSchema } from '../../src/shared/config/index.js';

describe('supervisorctl status parsing', () => {
  it('gives one observation per program, passing only when RUNNING', () => {
    const out = [
      'httpagent-agent                  RUNNING   pid 4242, uptime 1:02:03',
      'httpagent-monitor                RUNNING   pid 4243, uptime 1:02:03',
      'web:web_00                       BACKOFF   Exited too quickly (process log may have details)',
      'nope: ERROR (no such process)',
    ].join('\n');
    const obs = parseSupervisorStatus(out, 3, ['httpagent-agent', 'nope', 'absent']);
    expect(obs.map((o) => [o.name, o.ok])).toEqual([
      ['supervisord', true],
      ['supervisor:httpagent-agent', true],
      ['supervisor:httpagent-monitor', true],
      ['supervisor:web:web_00', false],
      ['supervisor:nope', false],
      ['supervisor:absent', false],
    ]);
  });

  it('reports supervisord itself when it cannot be reached (exit 4)', () => {
    const obs = parseSupervisorStatus('unix:///var/run/supervisor.sock no such file', 4, []);
    expect(obs).toHaveLength(1);
    expect(obs[0]!.name).toBe('supervisord');
    expect(obs[0]!.ok).toBe(false);
  });
});

const sample = (cpu: number, mem: number, disk: number): HostFigures => ({
  ts: 0,
  intervalMs: 10_000,
  cpu: { busyPercent: cpu, userPercent: cpu, systemPercent: 0, iowaitPercent: 0, stealPercent: 0 },
  load: null,
  memory: { totalBytes: 100, availableBytes: 100 - mem, usedPercent: mem, swapTotalBytes: 0, swapUsedBytes: 0 },
  disks: {},
  net: {},
  filesystems: { '/': { totalBytes: 2 ** 30, usedBytes: 0, availableBytes: 0, usedPercent: disk } },
});

describe('threshold checks', () => {
  const limits = { cpuPercent: 90, memoryPercent: 90, diskPercent: 80, holdMs: 30_000, mounts: ['/', '/data'] };
  const bad = (obs: { name: string; ok: boolean }[]) => obs.filter((o) => !o.ok).map((o) => o.name);

  it('fails a figure only after it stayed over its limit for the hold time', () => {
    const over: OverSince = new Map();
    expect(bad(thresholdChecks(sample(99, 10, 10), limits, over, 0))).toEqual(['disk:/data']);
    expect(bad(thresholdChecks(sample(99, 95, 85), limits, over, 20_000))).toEqual(['disk:/data']);
    expect(bad(thresholdChecks(sample(99, 95, 85), limits, over, 30_000))).toEqual(['cpu', 'disk:/data']);
    // a dip resets the hold
    expect(bad(thresholdChecks(sample(50, 95, 85), limits, over, 40_000))).toEqual(['disk:/data']);
    expect(bad(thresholdChecks(sample(99, 95, 85), limits, over, 50_000))).toEqual(['memory', 'disk:/', 'disk:/data']);
  });

  it('passes everything before the first sample', () => {
    expect(bad(thresholdChecks(undefined, limits, new Map(), 0))).toEqual([]);
  });
});

describe('sample ring', () => {
  it('keeps the newest items when full, oldest first out', () => {
    const b = createSampleBuffer<number>(3);
    for (let i = 1; i <= 5; i++) b.push(i);
    expect(b.peek(10)).toEqual([3, 4, 5]);
    expect(b.dropped()).toBe(2);
    b.drop(2);
    b.push(6);
    expect(b.peek(10)).toEqual([5, 6]);
    expect(b.size()).toBe(2);
  });
});

describe('options', () => {
  it('reaches a wildcard listen address on loopback', () => {
    expect(agentHealthUrl('0.0.0.0:9889')).toBe('http://127.0.0.1:9889/healthz');
    expect(agentHealthUrl('[::]:9889')).toBe('http://[::1]:9889/healthz');
    expect(agentHealthUrl('10.1.2.3:80')).toBe('http://10.1.2.3:80/healthz');
  });

  it('derives the heartbeat TTL, buffer size and mounts from the config', () => {
    const c = monitorConfigSchema.parse({ checkIntervalSec: '5', monitorMounts: '/data,/', metricsIntervalSec: 10 });
    const o = compileMonitorOptions(c, { underSupervisor: true });
    expect(o.heartbeatTtlSec).toBe(15);
    expect(o.bufferMax).toBe(8640);
    expect(o.thresholds.mounts).toEqual(['/', '/data']);
    expect(o.supervisor).toEqual({ programs: [], configFile: undefined });
  });

  it('rejects a process check without exactly one of pidfile or pattern', () => {
    const r = monitorConfigSchema.safeParse({ extraChecks: [{ name: 'x', type: 'process' }] });
    expect(r.success).toBe(false);
    const ok = monitorConfigSchema.safeParse({ extraChecks: '[{"name":"x","type":"process","pattern":"nginx"}]' });
    expect(ok.success).toBe(true);
  });
});
