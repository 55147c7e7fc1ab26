// The log spool and streamer: chunks by offset, batching, resync on 416, a stale epoch stops shipping.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { ControllerError } from '../../src/shared/client/controller-http.js';
import { openJobLog, type JobLog } from '../../src/agent/jobs/job-log.js';
import { shipAll, startLogStreamer, type SendLog } from '../../src/agent/jobs/log-streamer.js';
import { silentLogger } from '../../src/shared/log.js';
import { waitUntil } from '../helpers/wait.js';

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-log-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const logPath = () => join(tmp, `log-${n++}`);

/** The controller's side of the append contract: overlap skipped, a gap answered 416 with `expected`. */
function receiver() {
  let held = Buffer.alloc(0);
  const calls: Array<{ offset: number; length: number }> = [];
  const send: SendLog = async (offset, bytes) => {
    calls.push({ offset, length: bytes.length });
    if (offset > held.length) throw new ControllerError('LOG_OFFSET_GAP', 'gap', 416, { expected: held.length });
    held = Buffer.concat([held, bytes.subarray(held.length - offset)]);
    return { offset: held.length };
  };
  return { send, calls, text: () => held.toString(), truncate: (len: number) => (held = held.subarray(0, len)) };
}

const until = (what: string, cond: () => boolean) => waitUntil(what, cond, { timeoutMs: 10_000 });

afterEach(() => {
  vi.useRealTimers();
});

describe('job log + streamer', () => {
  const lines = Array.from({ length: 300 }, (_, i) => `line ${i}\n`);
  const total = Buffer.byteLength(lines.join(''));

  it('appends in order to the spool file and ships a batch once batchBytes are waiting, in chunks under the cap', async () => {
    const path = logPath();
    const log = await openJobLog(path);
    const rx = receiver();
    // batchMs out of reach: only the size can trigger, and it does when the last line reaches the disk.
    const streamer = startLogStreamer({ log, send: rx.send, chunkMaxBytes: 1000, batchBytes: total, batchMs: 3600_000, logger: silentLogger(), onStale: () => undefined, onCancel: () => undefined });
    for (const l of lines) log.append(l);
    await log.flush();
    await until('the whole log acknowledged', () => streamer.acked === log.written);
    await streamer.stop();
    expect(rx.text()).toBe(lines.join(''));
    expect(readFileSync(path, 'utf8')).toBe(lines.join(''));
    // One batch, cut at the chunk cap: a request per 1000 bytes, not one per line.
    expect(rx.calls.map((c) => c.offset)).toEqual(Array.from({ length: Math.ceil(total / 1000) }, (_, i) => i * 1000));
    expect(Math.max(...rx.calls.map((c) => c.length))).toBeLessThanOrEqual(1000);
    await log.close();
  });

  it('ships what waits below batchBytes once batchMs has passed, as one batch', async () => {
    // Only the streamer's timers are fake; the file writes are real I/O and finish on their own.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const log = await openJobLog(logPath());
    const rx = receiver();
    const streamer = startLogStreamer({ log, send: rx.send, chunkMaxBytes: 1000, batchBytes: 64 * 1024, batchMs: 50, logger: silentLogger(), onStale: () => undefined, onCancel: () => undefined });
    for (const l of lines) log.append(l);
    await log.flush();
    await vi.advanceTimersByTimeAsync(49);
    expect(rx.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    vi.useRealTimers();
    await until('the whole log acknowledged', () => streamer.acked === log.written);
    await streamer.stop();
    expect(rx.text()).toBe(lines.join(''));
    expect(rx.calls.map((c) => c.offset)).toEqual(Array.from({ length: Math.ceil(total / 1000) }, (_, i) => i * 1000));
    await log.close();
  });

  it('resyncs from the offset a 416 names', async () => {
    const log = await openJobLog(logPath());
    const rx = receiver();
    log.append('0123456789');
    await log.flush();
    // The controller has only 4 bytes (say, it lost a chunk); we believe it has 8.
    rx.truncate(0);
    await rx.send(0, Buffer.from('0123'));
    const end = await shipAll({ log, send: rx.send, from: 8, chunkMaxBytes: 3, logger: silentLogger() });
    expect(end).toBe(10);
    expect(rx.text()).toBe('0123456789');
    await log.close();
  });

  it('a stale epoch stops background shipping and tells the job', async () => {
    const log = await openJobLog(logPath());
    let stale = 0;
    let sends = 0;
    const send: SendLog = async () => {
      sends++;
      throw new ControllerError('STALE_EPOCH', 'moved on', 409);
    };
    const streamer = startLogStreamer({ log, send, chunkMaxBytes: 100, batchMs: 10, logger: silentLogger(), onStale: () => stale++, onCancel: () => undefined });
    log.append('hello\n');
    await until('the stale reply to reach the job', () => stale === 1);
    const sendsWhenStale = sends;
    log.append('more\n');
    // The write's wake-up has run once flush resolves; stop() then waits for anything it started.
    await log.flush();
    await streamer.stop();
    expect(stale).toBe(1);
    expect(sends).toBe(sendsWhenStale);
    await expect(shipAll({ log, send, from: 0, chunkMaxBytes: 100, logger: silentLogger() })).rejects.toMatchObject({ code: 'STALE_EPOCH' });
    await log.close();
  });

  it('keeps the bytes while the controller is away and ships them when it answers again', async () => {
    const log = await openJobLog(logPath());
    const rx = receiver();
    let down = true;
    let refused = 0;
    const send: SendLog = (o, b) => (down ? (refused++, Promise.reject(new ControllerError('HTTP_503', 'down', 503))) : rx.send(o, b));
    const streamer = startLogStreamer({ log, send, chunkMaxBytes: 100, batchMs: 10, logger: silentLogger(), onStale: () => undefined, onCancel: () => undefined });
    log.append('while down\n');
    await log.flush();
    await until('two refused attempts', () => refused >= 2);
    expect(streamer.acked).toBe(0);
    down = false;
    await until('the log acknowledged once the controller answers', () => streamer.acked === log.written);
    expect(rx.text()).toBe('while down\n');
    await streamer.stop();
    await log.close();
  });

  it('a reopened spool continues where the file ends (agent restart)', async () => {
    const path = logPath();
    const a = await openJobLog(path);
    a.append('first\n');
    await a.close();
    const b = await openJobLog(path);
    expect(b.written).toBe(6);
    b.append('second\n');
    await b.flush();
    expect((await b.read(0, 100)).toString()).toBe('first\nsecond\n');
    await b.close();
  });
});

describe('chunks in flight', () => {
  /**
   * A receiver that handles requests in the order `pick` chooses among those waiting (overtaking). It holds
   * requests until the window is full or the shipper can send no more: no read of the spool in progress
   * once the microtasks after the last event have run (the shipper cuts its next chunk in those).
   */
  function reorderingReceiver(log: JobLog, window: number, pick: (waiting: number) => number) {
    const rx = receiver();
    let waiting: Array<() => void> = [];
    let maxInFlight = 0;
    let reading = 0;
    let scheduled = false;
    const release = () => {
      if (scheduled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        if (waiting.length === 0 || (waiting.length < window && reading > 0)) return;
        const i = Math.min(pick(waiting.length), waiting.length - 1);
        const [run] = waiting.splice(i, 1);
        run!();
      });
    };
    const send: SendLog = (offset, bytes) =>
      new Promise((resolve, reject) => {
        waiting.push(() => rx.send(offset, bytes).then(resolve, reject).finally(release));
        maxInFlight = Math.max(maxInFlight, waiting.length);
        release();
      });
    const spool = Object.create(log, {
      readInto: {
        value: async (offset: number, target: Buffer) => {
          reading++;
          try {
            return await log.readInto(offset, target);
          } finally {
            reading--;
            release();
          }
        },
      },
    }) as JobLog;
    return { ...rx, send, spool, maxInFlight: () => maxInFlight, reset: () => (waiting = []) };
  }

  it('ships with up to the window in flight and ends exact even when a chunk overtakes the one before it', async () => {
    const log = await openJobLog(logPath());
    const text = Array.from({ length: 500 }, (_, i) => `line ${i} of a log shipped two chunks at a time\n`).join('');
    log.append(text);
    // Always handle the newest request first: every second chunk arrives before its predecessor.
    const rx = reorderingReceiver(log, 2, (n) => n - 1);
    const end = await shipAll({ log: rx.spool, send: rx.send, from: 0, chunkMaxBytes: 700, inFlight: 2, logger: silentLogger() });
    expect(end).toBe(Buffer.byteLength(text));
    expect(rx.text()).toBe(text);
    expect(rx.maxInFlight()).toBe(2);
    // An overtaken chunk is answered 416 and sent again; no byte is stored out of place.
    expect(rx.calls.some((c, i) => rx.calls.slice(0, i).some((p) => p.offset === c.offset))).toBe(true);
    await log.close();
  });

  it('the streamer keeps a window of chunks in flight and acknowledges the whole log', async () => {
    const log = await openJobLog(logPath());
    const rx = reorderingReceiver(log, 3, () => 0);
    const streamer = startLogStreamer({ log: rx.spool, send: rx.send, chunkMaxBytes: 500, inFlight: 3, batchBytes: 1, batchMs: 5, logger: silentLogger(), onStale: () => undefined, onCancel: () => undefined });
    const text = 'x'.repeat(20_000);
    log.append(text);
    await log.flush();
    await until('the whole log acknowledged', () => streamer.acked === log.written);
    await streamer.stop();
    expect(rx.text()).toBe(text);
    expect(rx.maxInFlight()).toBe(3);
    await log.close();
  });

  it('a stale reply among chunks in flight stops shipping; the others settle first', async () => {
    const log = await openJobLog(logPath());
    log.append('y'.repeat(5000));
    let calls = 0;
    let settled = 0;
    // The first chunk's reply is held until the second (stale) one has failed.
    let secondFailed!: () => void;
    const afterSecond = new Promise<void>((r) => (secondFailed = r));
    const send: SendLog = async (offset, bytes) => {
      const n = ++calls;
      if (n === 1) await afterSecond;
      settled++;
      if (n === 2) {
        queueMicrotask(secondFailed);
        throw new ControllerError('STALE_EPOCH', 'moved on', 409);
      }
      return { offset: offset + bytes.length };
    };
    await expect(shipAll({ log, send, from: 0, chunkMaxBytes: 1000, inFlight: 2, logger: silentLogger() })).rejects.toMatchObject({ code: 'STALE_EPOCH' });
    // The first chunk was still in flight when the second failed: it settled before shipAll gave up, and
    // nothing was sent after the failure.
    expect(settled).toBe(calls);
    expect(calls).toBe(2);
    await log.close();
  });
});
