// The physical floor, client side of log streaming: one Node process (as the agent is one) POSTs
// <mib> MiB in 1 MiB chunks, two in flight (as the agent keeps two), to the floor server's POST /log.
// It prints "READY", starts on SIGUSR2 (so the bench can start its CPU meter after Node and tsx have
// loaded), prints "DONE {json}" and stays up until SIGTERM (so the bench can read its CPU and RSS).
// Usage: node --import tsx bench/lib/log-poster.ts <serverUrl> <mib>
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';

const [url, mibArg] = process.argv.slice(2);
const mib = Number(mibArg);
if (!url || !(mib > 0)) throw new Error('usage: log-poster.ts <serverUrl> <mib>');
const CHUNK = 1024 * 1024;
const IN_FLIGHT = 2;
// The same text big-log writes (bench/tasks/big-log), so both sides carry the same bytes.
const LINE = Buffer.from('httpagent log streaming bench line: 0123456789abcdef0123456789\n');
const pattern = Buffer.alloc(CHUNK + LINE.length);
for (let i = 0; i < pattern.length; i += LINE.length) LINE.copy(pattern, i);

const pool = new Pool(url, { connections: IN_FLIGHT, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 });

async function post(i: number): Promise<void> {
  // A fresh buffer per chunk, as the agent reads a fresh one from the pipe, at the stream's offset.
  const chunk = Buffer.allocUnsafe(CHUNK);
  const off = (i * CHUNK) % LINE.length;
  pattern.copy(chunk, 0, off, off + CHUNK);
  const res = await pool.request({ path: '/log', method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: chunk });
  await res.body.dump();
  if (res.statusCode !== 200) throw new Error(`POST /log answered ${res.statusCode}`);
}

async function run(): Promise<void> {
  const t0 = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < mib) await post(next++);
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const peakRssMb = Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
  process.stdout.write(`DONE ${JSON.stringify({ seconds, bytes: mib * CHUNK, peakRssMb })}\n`);
}

process.once('SIGUSR2', () => void run().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
}));
process.once('SIGTERM', () => void pool.close().finally(() => process.exit(0)));
process.stdout.write('READY\n');
// Keep the event loop alive while waiting for the signals.
setInterval(() => undefined, 60_000);
