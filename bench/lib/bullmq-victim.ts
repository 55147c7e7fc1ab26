// A BullMQ worker in its own process for the re-delivery anchor: it takes one job, says so, and hangs
// on to it until the bench kills it with SIGKILL. Run: node --import tsx bench/lib/bullmq-victim.ts URL QUEUE
import { Worker } from 'bullmq';

const [redisUrl, queue] = process.argv.slice(2);
const u = new URL(redisUrl!);
const worker = new Worker(
  queue!,
  async (job) => {
    process.stdout.write(`GOT ${job.id}\n`);
    await new Promise(() => {}); // holds the job (and renews its lock) until killed
  },
  { connection: { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null }, concurrency: 1 },
);
await worker.waitUntilReady();
process.stdout.write('READY\n');
