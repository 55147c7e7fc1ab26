// BullMQ measured on the same Redis in the same run: the anchor for pickup, throughput and bursts.
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

/** n no-op jobs queued first, then a worker at `concurrency` drains them: jobs/s. */
export async function bullmqThroughput(redisUrl: string, concurrency: number, n: number): Promise<number> {
  const name = `tp-${concurrency}-${Date.now()}`;
  const queue = new Queue(name, { connection: connection(redisUrl) });
  for (let i = 0; i < n; i += 1000) {
    await queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({ name: 'j', data: { i: i + k }, opts: { removeOnComplete: true } })));
  }
  let done = 0;
  let finish: () => void = () => {};
  const all = new Promise<void>((r) => (finish = r));
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
