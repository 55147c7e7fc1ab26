// BullMQ measured on the same Redis in the same run: the anchor for pickup, throughput and bursts.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Queue, Worker, type Job } from 'bullmq';
import { now } from './stats.js';

function connection(redisUrl: string) {
  const u = new URL(redisUrl);
  return { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };
}

/** Idle worker; each sample: add one job, time until the processor is entered. */
export async function bullmqPickup(redisUrl: string, samples: number): Promise<number[]> {
  const name = `pickup-${Date.now()}`;
  const queue = new Queue(name, { connection: connection(redisUrl) });
  let resolveSeen: ((t: number) => void) | undefined;
  const worker = new Worker(
    name,
    async () => {
      resolveSeen?.(now());
    },
    { connection: connection(redisUrl), concurrency: 1 },
  );
  await worker.waitUntilReady();
  await new Promise((r) => setTimeout(r, 200));
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const seen = new Promise<number>((r) => (resolveSeen = r));
    const t0 = now();
    await queue.add('j', { i }, { removeOnComplete: true });
    out.push((await seen) - t0);
    await new Promise((r) => setTimeout(r, 5)); // let the worker go idle again
  }
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return out;
}

/** Called around the timed drain, e.g. to start and stop a CPU meter (the fill is not part of it). */
export interface DrainHooks {
  start?(): Promise<void>;
  end?(): Promise<void>;
}

/** n no-op jobs queued first, then a worker (in this process) at `concurrency` drains them: jobs/s. */
export async function bullmqThroughput(redisUrl: string, concurrency: number, n: number, hooks: DrainHooks = {}): Promise<number> {
  const name = `tp-${concurrency}-${Date.now()}`;
  const queue = new Queue(name, { connection: connection(redisUrl) });
  for (let i = 0; i < n; i += 1000) {
    await queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'j', data: { i: i + k }, opts: { removeOnComplete: true } })));
  }
  let done = 0;
  let finish: () => void = () => {};
  const all = new Promise<void>((r) => (finish = r));
  await hooks.start?.();
  const t0 = now();
  const worker = new Worker(
    name,
    async (_job: Job) => {
      /* no-op */
    },
    { connection: connection(redisUrl), concurrency },
  );
  worker.on('completed', () => {
    if (++done === n) finish();
  });
  await all;
  const secs = (now() - t0) / 1000;
  await hooks.end?.();
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return n / secs;
}

/** addBulk in chunks of `chunk`: accepted jobs/s. */
export async function bullmqAddBulk(redisUrl: string, n: number, chunk = 1000): Promise<number> {
  const name = `burst-${Date.now()}`;
  const queue = new Queue(name, { connection: connection(redisUrl) });
  await queue.waitUntilReady();
  // Warm-up on the same connection: script loading and JIT are not part of a burst's steady state.
  await queue.addBulk(Array.from({ length: Math.min(chunk, 500) }, (_, k) => ({ name: 'w', data: { k } })));
  const t0 = now();
  const batches: Promise<unknown>[] = [];
  for (let i = 0; i < n; i += chunk) {
    batches.push(queue.addBulk(Array.from({ length: Math.min(chunk, n - i) }, (_, k) => ({ name: 'j', data: { i: i + k } }))));
  }
  await Promise.all(batches);
  const rate = n / ((now() - t0) / 1000);
  await queue.obliterate({ force: true });
  await queue.close();
  return rate;
}

/**
 * Re-delivery after kill -9 with BullMQ's defaults (30 s lock, stalled check every 30 s): a worker in
 * another process takes the job and is SIGKILLed while an idle worker here waits; answers the ms from
 * the kill to this worker's processor being entered.
 */
export async function bullmqRedelivery(redisUrl: string, timeoutMs = 150_000): Promise<number> {
  const name = `redeliver-${Date.now()}`;
  const queue = new Queue(name, { connection: connection(redisUrl) });
  const victim = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./bullmq-victim.ts', import.meta.url)), redisUrl, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const saw = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      const check = () => (re.test(out) ? resolve() : undefined);
      victim.stdout!.on('data', (d: Buffer) => ((out += d.toString()), check()));
      victim.once('exit', () => reject(new Error(`BullMQ victim exited early: ${out}`)));
      check();
    });
  let standby: Worker | undefined;
  try {
    await saw(/READY/);
    await queue.add('j', {});
    await saw(/GOT/);
    let resolveSeen: (t: number) => void = () => {};
    const seen = new Promise<number>((r) => (resolveSeen = r));
    standby = new Worker(name, async () => resolveSeen(now()), { connection: connection(redisUrl), concurrency: 1 });
    await standby.waitUntilReady();
    const t0 = now();
    victim.kill('SIGKILL');
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('BullMQ did not re-deliver in time')), timeoutMs).unref());
    return (await Promise.race([seen, timeout])) - t0;
  } finally {
    victim.kill('SIGKILL');
    await standby?.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
  }
}
