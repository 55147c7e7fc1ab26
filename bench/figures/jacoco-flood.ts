// Figure: /healthz latency while a hostile JaCoCo peer floods a coverage dump (issue 11: before the dump
// was streamed and bounded, a 5 MB reply held /healthz for 5.3 s). A real `httpagent agent` from dist/
// reads a never-ending stream of valid class blocks (up to jacocoMaxBytes, then 413) while this process
// times /healthz over a kept-open connection. A figure, not a test: the test
// (test/integration/jacoco-hostile-peer.test.ts) asserts only that the agent answers and stays small.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { encodeExecutionData, encodeHeader, encodeSessionInfo } from '../../src/agent/tasks/jacoco-codec.js';
import { freePort } from '../../test/helpers/ports.js';
import { createPortTokenSigner, writePortKeysFile } from '../../test/helpers/port-tokens.js';
import { benchTasksDir, sleep, type Figure } from '../lib/figure.js';
import type { Row } from '../lib/report.js';
import { now, summarize } from '../lib/stats.js';
import { rssMb, spawnDist, stop, waitHttp } from '../lib/system.js';

const AGENT_ID = 'bench-jacoco-agent';
const classRun = Buffer.concat(
  Array.from({ length: 2500 }, (_, i) => encodeExecutionData({ id: BigInt(i), name: `com/ex/C${i}`, probes: [true, false, true, i % 2 === 0] })),
);

/** A peer that, once asked for a dump, writes class blocks as fast as the agent reads them. */
async function floodingPeer(): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    let got = 0;
    s.on('data', (d) => {
      if (got >= 8 || (got += d.length) < 8) return;
      const pump = () => {
        while (!s.destroyed && s.write(classRun));
      };
      s.write(Buffer.concat([encodeHeader(), encodeSessionInfo({ id: 'bench', start: 1n, dump: 2n })]));
      s.on('drain', pump);
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { port: typeof addr === 'object' && addr ? addr.port : 0, server, sockets };
}

/** One GET /healthz on a kept-open socket: the time from the write to the whole reply. */
function timedHealthz(s: Socket, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const text = got.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(text);
      if (end < 0 || !length || got.length < end + 4 + Number(length[1])) return;
      s.off('data', onData);
      s.off('close', onClose);
      resolve(now() - t0);
    };
    const onClose = () => reject(new Error('healthz connection closed'));
    s.on('data', onData);
    s.once('close', onClose);
    const t0 = now();
    s.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  });
}

export const jacocoFlood: Figure = {
  name: 'jacoco-flood',
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'httpagent-bench-jacoco-'));
    const signer = await createPortTokenSigner();
    const token = await signer.mint(AGENT_ID, { ttlSec: 300 });
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const maxBytes = (ctx.quick ? 64 : 256) * 1024 * 1024;
    const agent = spawnDist(['agent'], {
      HTTPAGENT_AGENT_ID: AGENT_ID,
      HTTPAGENT_ENROLL_TOKEN: 'bench-jacoco-enroll-token-0123456789',
      // No controller: the job loop retries in the background, the port serves on with its keys pinned.
      HTTPAGENT_CONTROLLER_URL: `http://127.0.0.1:${await freePort()}`,
      HTTPAGENT_PORT_TOKEN_KEYS_FILE: writePortKeysFile(dir, signer),
      HTTPAGENT_LISTEN: `127.0.0.1:${port}`,
      HTTPAGENT_STATE_DIR: join(dir, 'state'),
      HTTPAGENT_TASKS_DIR: benchTasksDir,
      // Run as root, the agent starts tasks as another account (it refuses to start without one).
      ...(process.getuid?.() === 0 ? { HTTPAGENT_TASK_USER: 'nobody' } : {}),
      HTTPAGENT_LOG_LEVEL: 'error',
      HTTPAGENT_JACOCO_MAX_BYTES: String(maxBytes),
      HTTPAGENT_JACOCO_TIMEOUT_SEC: '120',
    });
    const peer = await floodingPeer();
    let probe: Socket | undefined;
    try {
      await waitHttp(`${url}/healthz`, agent);
      // Connected beforehand: what is timed is the agent's answer, not a handshake.
      const p = (probe = connect({ host: '127.0.0.1', port }));
      p.on('error', () => {});
      await new Promise<void>((r) => p.once('connect', () => r()));
      p.setNoDelay(true);
      const pid = agent.proc.pid!;
      await samples(20, () => timedHealthz(p, `127.0.0.1:${port}`)); // warm-up: first calls compile the route
      const idle = summarize(await samples(50, () => timedHealthz(p, `127.0.0.1:${port}`)));

      let done = false;
      let status = 0;
      const dump = request(`${url}/v1/coverage/jacoco`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ port: peer.port }),
      }).then(async (res) => {
        status = res.statusCode;
        await res.body.dump();
      }).finally(() => (done = true));
      // Wait for the flood to be under way (the peer has a socket), then sample until the dump ends.
      while (peer.sockets.size === 0 && !done) await sleep(5);
      const flooding: number[] = [];
      let rssPeak = await rssMb(pid);
      while (!done) {
        flooding.push(await timedHealthz(p, `127.0.0.1:${port}`));
        rssPeak = Math.max(rssPeak, await rssMb(pid));
        await sleep(10);
      }
      await dump;
      const s = summarize(flooding);
      ctx.detail('idle', idle);
      ctx.detail('flooding', { ...s, dumpStatus: status, maxBytes, samples: flooding.length, rssPeakMb: rssPeak });
      const note = `real agent from dist/, a peer writing valid class blocks as fast as read until jacocoMaxBytes (${maxBytes / 2 ** 20} MiB, then ${status}); ${flooding.length} samples over a kept-open connection`;
      const rows: Row[] = [
        { bench: 'jacoco-flood', figure: '/healthz during a hostile dump flood, median', unit: 'ms', ours: s.median, anchor: idle.median, anchorName: 'idle agent', target: '≤ 50 ms', met: s.median <= 50, note },
        { bench: 'jacoco-flood', figure: '/healthz during a hostile dump flood, p99', unit: 'ms', ours: s.p99, anchor: idle.p99, anchorName: 'idle agent', target: '≤ 50 ms', met: s.p99 <= 50 },
        { bench: 'jacoco-flood', figure: 'agent RSS peak during the flood', unit: 'MB', ours: rssPeak, anchor: null, anchorName: null, target: '< 200 MB', met: rssPeak < 200 },
      ];
      return rows;
    } finally {
      probe?.destroy();
      for (const s of peer.sockets) s.destroy();
      await new Promise((r) => peer.server.close(r));
      await stop(agent);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

async function samples(n: number, fn: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await fn());
  return out;
}
