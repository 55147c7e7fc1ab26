// The /proc parsers and delta maths, on files captured from a real host and crafted variants.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cpuDelta, parseProcStat } from '../../src/monitor/collectors/cpu-stat.js';
import { diskDelta, isReportedDisk, parseDiskstats } from '../../src/monitor/collectors/diskstats.js';
import { fsFigures } from '../../src/monitor/collectors/filesystems.js';
import { createHostSampler, MAX_ENTRIES } from '../../src/monitor/collectors/host-sampler.js';
import { parseLoadavg } from '../../src/monitor/collectors/loadavg.js';
import { parseMeminfo } from '../../src/monitor/collectors/meminfo.js';
import { netDelta, parseNetDev } from '../../src/monitor/collectors/net-dev.js';

const dir = fileURLToPath(new URL('../fixtures/proc/', import.meta.url));
const fx = (p: string): string => readFileSync(join(dir, p), 'utf8');

describe('cpu (/proc/stat)', () => {
  it('computes busy, user, system from two captured readings', () => {
    const a = parseProcStat(fx('linux-6.18-a/stat'))!;
    const b = parseProcStat(fx('linux-6.18-b/stat'))!;
    expect(a.user).toBe(8216);
    // Δuser 1, Δsystem 1, Δidle 397: total 399
    expect(cpuDelta(a, b)).toEqual({ busyPercent: 0.5, userPercent: 0.25, systemPercent: 0.25, iowaitPercent: 0, stealPercent: 0 });
  });

  it('reads a 2.6 kernel line with only 7 fields', () => {
    const fig = cpuDelta(parseProcStat(fx('crafted/stat-2.6'))!, parseProcStat(fx('crafted/stat-2.6-later'))!);
    // Δ user 60, system 20, idle 100, iowait 10: total 190, busy 80
    expect(fig).toEqual({ busyPercent: 42.11, userPercent: 31.58, systemPercent: 10.53, iowaitPercent: 5.26, stealPercent: 0 });
  });

  it('leaves guest out of the total (user already holds it) and reports steal alone', () => {
    const a = parseProcStat('cpu  0 0 0 0 0 0 0 0 0 0\n')!;
    const b = parseProcStat('cpu  100 0 0 80 0 0 0 20 40 0\n')!;
    expect(cpuDelta(a, b)).toEqual({ busyPercent: 60, userPercent: 50, systemPercent: 0, iowaitPercent: 0, stealPercent: 10 });
  });

  it('drops the sample when a counter goes backwards (hot-plug) or no tick passed', () => {
    const b = parseProcStat(fx('linux-6.18-b/stat'))!;
    expect(cpuDelta(b, parseProcStat(fx('crafted/stat-hotplug'))!)).toBeNull();
    expect(cpuDelta(b, b)).toBeNull();
  });

  it('clamps a decreasing iowait instead of dropping the sample', () => {
    const a = parseProcStat('cpu  0 0 0 0 50 0 0 0 0 0\n')!;
    const b = parseProcStat('cpu  50 0 0 50 40 0 0 0 0 0\n')!;
    expect(cpuDelta(a, b)?.busyPercent).toBe(50);
  });

  it('reads load averages', () => {
    expect(parseLoadavg(fx('linux-6.18-a/loadavg'))).toEqual({ load1: 0.11, load5: 0.12, load15: 0.09 });
    expect(parseLoadavg('')).toBeNull();
  });
});

describe('memory (/proc/meminfo)', () => {
  it('uses MemAvailable for used %', () => {
    const m = parseMeminfo(fx('linux-6.18-a/meminfo'))!;
    expect(m.totalBytes).toBe(24684096 * 1024);
    expect(m.availableBytes).toBe(24098636 * 1024);
    expect(m.usedPercent).toBe(2.37);
    expect(m.swapUsedBytes).toBe(0);
  });

  it('reports swap used and falls back without MemAvailable (before 3.14)', () => {
    const m = parseMeminfo('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 100 kB\nSwapTotal: 400 kB\nSwapFree: 100 kB\n')!;
    expect(m.usedPercent).toBe(75);
    expect(m.swapUsedBytes).toBe(300 * 1024);
  });
});

describe('disks (/proc/diskstats)', () => {
  it('skips partitions, loop, ram and zram but keeps dm, md and whole disks', () => {
    const names = [...parseDiskstats(fx('crafted/diskstats-kernel4.14')).keys()];
    expect(names).toEqual(['sda', 'nvme0n1', 'dm-0', 'md0', 'mmcblk0', 'sr0']);
    expect(isReportedDisk('xvda1')).toBe(false);
    expect(isReportedDisk('xvda')).toBe(true);
    expect([...parseDiskstats(fx('linux-6.18-a/diskstats')).keys()]).toEqual(['vda']);
  });

  it('computes rates from a 14-field kernel', () => {
    const d = diskDelta(parseDiskstats(fx('crafted/diskstats-kernel4.14')), parseDiskstats(fx('crafted/diskstats-kernel4-later.14')), 1000);
    // sda: 100 reads of 8000 sectors, 100 writes of 16000 sectors, 500 ms busy of 1000
    expect(d.sda).toEqual({ readBytesPerSec: 4_096_000, writeBytesPerSec: 8_192_000, iops: 200, utilPercent: 50, awaitMs: 0.3 });
    expect(d['nvme0n1']).toEqual({ readBytesPerSec: 0, writeBytesPerSec: 0, iops: 0, utilPercent: 0, awaitMs: null });
    // mmcblk0 is gone in the later reading: dropped, not reported as zero
    expect(Object.keys(d).sort()).toEqual(['dm-0', 'md0', 'nvme0n1', 'sda', 'sr0']);
  });

  it('computes rates from the 18/20-field layout captured on this host', () => {
    const d = diskDelta(parseDiskstats(fx('linux-6.18-a/diskstats')), parseDiskstats(fx('linux-6.18-b/diskstats')), 2000);
    // 2 reads of 88 sectors and 1 write of 8 sectors in 2 s
    expect(d.vda).toEqual({ readBytesPerSec: 22_528, writeBytesPerSec: 2048, iops: 1.5, utilPercent: 0, awaitMs: 0.33 });
  });

  it('drops a device whose counters reset and one that disappears', () => {
    const b = parseDiskstats(fx('linux-6.18-b/diskstats'));
    const reset = parseDiskstats(fx('crafted/diskstats-reset'));
    // vda went backwards, vdb is new: nothing to report for this interval
    expect(diskDelta(b, reset, 1000)).toEqual({});
    const gone = diskDelta(reset, parseDiskstats(fx('crafted/diskstats-gone')), 1000);
    expect(Object.keys(gone)).toEqual(['vda']);
    expect(gone.vda!.readBytesPerSec).toBe(800 * 512);
  });
});

describe('network (/proc/net/dev)', () => {
  it('parses `eth0:123` with no space after the colon and skips lo', () => {
    const n = parseNetDev(fx('crafted/net-dev-nospace'));
    expect([...n.keys()]).toEqual(['eth0', 'eth1']);
    expect(n.get('eth0')).toEqual({ rxBytes: 4294967000, rxPackets: 3000000, rxErrors: 2, rxDrops: 1, txBytes: 123456789, txPackets: 2000000, txErrors: 0, txDrops: 3 });
    expect([...parseNetDev(fx('linux-6.18-a/net-dev')).keys()]).toEqual(['ifb0', 'ifb1', 'eth0']);
  });

  it('drops an interface whose counter wrapped and one that is new', () => {
    const d = netDelta(parseNetDev(fx('crafted/net-dev-nospace')), parseNetDev(fx('crafted/net-dev-wrap')), 10_000);
    expect(Object.keys(d)).toEqual(['eth1']);
    expect(d.eth1).toEqual({ rxBytesPerSec: 100, txBytesPerSec: 100, rxPacketsPerSec: 1, txPacketsPerSec: 1, rxErrors: 0, txErrors: 0, rxDrops: 0, txDrops: 0 });
  });

  it('reports errors and drops as counts within the interval', () => {
    const a = parseNetDev('x\ny\n eth0: 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n');
    const b = parseNetDev('x\ny\n eth0: 1000 10 4 5 0 0 0 0 2000 20 6 7 0 0 0 0\n');
    expect(netDelta(a, b, 2000).eth0).toEqual({ rxBytesPerSec: 500, txBytesPerSec: 1000, rxPacketsPerSec: 5, txPacketsPerSec: 10, rxErrors: 4, txErrors: 6, rxDrops: 5, txDrops: 7 });
  });
});

describe('filesystems and the sampler', () => {
  it('computes use like df: used / (used + available to users)', () => {
    // 100 blocks of 4 KiB, 30 free of which 20 available to users: used 70, 70/90
    expect(fsFigures({ bsize: 4096, blocks: 100, bfree: 30, bavail: 20 })).toEqual({
      totalBytes: 409_600, usedBytes: 286_720, availableBytes: 81_920, usedPercent: 77.78,
    });
    expect(fsFigures({ bsize: 4096, blocks: 0, bfree: 0, bavail: 0 })).toBeNull();
  });

  it('samples the live host: no rates first, rates on the second, the root filesystem always', async () => {
    const sampler = createHostSampler({ mounts: ['/', '/no/such/mount'] });
    const first = await sampler.sample();
    expect(first.intervalMs).toBeNull();
    expect(first.cpu).toBeNull();
    expect(first.memory!.totalBytes).toBeGreaterThan(0);
    expect(Object.keys(first.filesystems)).toEqual(['/']);
    // The interval is on a fractional monotonic clock (performance.now): positive without waiting.
    const second = await sampler.sample();
    expect(second.intervalMs).toBeGreaterThan(0);
    expect(second.load).not.toBeNull();
    expect(Object.keys(second.net)).not.toContain('lo');
  });
});

describe('sampler on a fixture /proc', () => {
  it('reads a directory laid out like /proc and caps interfaces so a sample stays small', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fake-proc-'));
    try {
      for (const f of ['stat', 'loadavg', 'meminfo', 'diskstats']) writeFileSync(join(root, f), fx(`linux-6.18-a/${f}`));
      mkdirSync(join(root, 'net'));
      const lines = (bytes: number) =>
        ['h1', 'h2', ...Array.from({ length: 100 }, (_, i) => `veth${String(i).padStart(3, '0')}: ${bytes} 1 0 0 0 0 0 0 ${bytes} 1 0 0 0 0 0 0`)].join('\n');
      writeFileSync(join(root, 'net/dev'), lines(1000));
      let mono = 0;
      const sampler = createHostSampler({ procRoot: root, mounts: ['/'], monoNow: () => mono, now: () => 42 });
      await sampler.sample();
      mono = 1000;
      writeFileSync(join(root, 'net/dev'), lines(3000));
      for (const f of ['stat', 'diskstats']) writeFileSync(join(root, f), fx(`linux-6.18-b/${f}`));
      const s = await sampler.sample();
      expect(s.ts).toBe(42);
      expect(s.intervalMs).toBe(1000);
      expect(Object.keys(s.net)).toHaveLength(MAX_ENTRIES);
      expect(s.net.veth000!.rxBytesPerSec).toBe(2000);
      expect(s.cpu!.busyPercent).toBe(0.5);
      expect(s.disks.vda!.iops).toBe(3);
      expect(JSON.stringify(s).length).toBeLessThan(64 * 1024);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
