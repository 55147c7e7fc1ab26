// The job log spool: bytes land on disk whole and in order, an existing spool is continued (an agent
// restart), and a paused writer is let go once the queue drains.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openJobLog } from '../../src/agent/jobs/job-log.js';

const dir = mkdtempSync(join(tmpdir(), 'httpagent-job-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('job log spool', () => {
  it('writes a burst of appends whole and in order, telling each write to its listener', async () => {
    const log = await openJobLog(join(dir, 'burst.log'));
    let writes = 0;
    log.onWritten(() => writes++);
    const parts = Array.from({ length: 200 }, (_, i) => Buffer.from(`line ${i}\n`));
    for (const p of parts) log.append(p);
    expect(log.appended).toBe(Buffer.concat(parts).length);
    expect(await log.flush()).toBe(Buffer.concat(parts).length);
    expect(readFileSync(join(dir, 'burst.log'))).toEqual(Buffer.concat(parts));
    expect(writes).toBeGreaterThan(0);
    expect(log.written).toBe(log.appended);
    await log.close();
  });

  it('continues an existing file and reads back by offset across writes', async () => {
    const file = join(dir, 'continued.log');
    writeFileSync(file, 'before restart\n');
    const log = await openJobLog(file);
    expect(log.written).toBe(15);
    log.append('after\n');
    log.append(Buffer.alloc(0)); // nothing, not a write
    await log.flush();
    log.append('and more\n');
    await log.flush();
    expect((await log.read(0, 100)).toString()).toBe('before restart\nafter\nand more\n');
    expect((await log.readInto(15, Buffer.alloc(5))).toString()).toBe('after');
    await log.close();
  });

  it('lets a paused writer go on once the queue is under its low water mark', async () => {
    const log = await openJobLog(join(dir, 'drain.log'));
    for (let i = 0; i < 64; i++) log.append(Buffer.alloc(16 * 1024, 97));
    expect(log.queued).toBeGreaterThan(0);
    await log.drained(0);
    expect(log.queued).toBe(0);
    expect(log.written).toBe(64 * 16 * 1024);
    await log.close();
  });
});
