// Attack: a peer on the coverage port (the app under test can be one) answers the dump with a reply
// built to hurt the agent: 31 MB at once (this killed the agent with "JavaScript heap out of memory"),
// one class claiming 250 million probes, a stream that never ends, one that drips a byte at a time,
// garbage after a good start. Also: `host` aimed at an address that is not allowed. The agent is a real
// `httpagent agent` process; the peers are real TCP servers in this file.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeExecutionData, encodeHeader, encodeSessionInfo, encodeVarInt, parseExecFile } from '../../src/agent/tasks/jacoco-codec.js';
import { freePort } from '../helpers/ports.js';
import { createPortTokenSigner, writePortKeysFile, type PortTokenSigner } from '../helpers/port-tokens.js';
import { agentTestEnv, binJs, isAlive, repoRoot, track, type Spawned } from '../helpers/processes.js';

/** Mints port tokens for this agent with the key its portTokenKeysFile names (a fresh one per call: they live 5 minutes at most). */
let signer: PortTokenSigner;
const bearer = async () => `Bearer ${await signer.mint(AGENT_ID, { ttlSec: 300 })}`;
/** /healthz with a credential: without one it says only ok or draining. */
const health = async (): Promise<any> => (await fetch(`${base}/healthz`, { headers: { authorization: await bearer() } })).json();
const AGENT_ID = 'hostile-peer-agent';
const MAX_BYTES = 8 * 1024 * 1024;
const RSS_LIMIT_KB = 200 * 1024;
const POOL = 5;
// Long enough for the floods to reach MAX_BYTES on a busy machine, so they end on the cap, not the deadline.
const DEADLINE_SEC = 5;

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-hostile-'));
// It is the agent's tasksDir: a root agent refuses one its task user cannot reach.
chmodSync(tmp, 0o755);
let agent: Spawned | undefined;
let base = '';
const servers: Server[] = [];
const peerSockets = new Set<Socket>();

// ---- what the hostile peers send

const header = encodeHeader();
const session = encodeSessionInfo({ id: 'hostile', start: 1n, dump: 2n });
const cls = (i: number) => encodeExecutionData({ id: BigInt(i), name: `com/ex/C${i}`, probes: [true, false, true, i % 2 === 0] });
/** 64 KiB-ish of valid class blocks, built once and written again and again. */
const classRun = Buffer.concat(Array.from({ length: 2500 }, (_, i) => cls(i)));
/** 31 MB of valid class blocks and a CMDOK: one reply, written at once. */
const reply31MB = Buffer.concat([header, session, ...Array(Math.ceil(31_000_000 / classRun.length)).fill(classRun), Buffer.of(0x20)]);
/** One class claiming 250 million probes (31 MB of probe bytes would follow). */
const wideClassHead = Buffer.concat([Buffer.from('11' + '0000000000000001' + '0004' + '57696465', 'hex'), encodeVarInt(250_000_000)]);

interface Peer {
  port: number;
  host: string;
  /** Source ports of the connections accepted so far, in order. */
  accepted: number[];
  /** Resolves once the first connection was closed (by the agent: no peer here closes first). */
  closed: Promise<void>;
}

/** A fake JaCoCo agent: once header + dump command (8 bytes) arrive, `answer` takes over the socket. */
async function peer(answer: (s: Socket) => void, host = '127.0.0.1'): Promise<Peer> {
  let closed!: () => void;
  const p: Peer = {
    port: 0,
    host,
    accepted: [],
    closed: new Promise<void>((r) => (closed = r)),
  };
  const server = createServer((socket) => {
    p.accepted.push(socket.remotePort ?? -1);
    peerSockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      peerSockets.delete(socket);
      closed();
    });
    let got = 0;
    socket.on('data', (d) => {
      if (got < 8 && (got += d.length) >= 8) answer(socket);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  const addr = server.address();
  p.port = typeof addr === 'object' && addr ? addr.port : 0;
  return p;
}

/**
 * Every connection `p` will ever see from what already happened: the listener accepts in order, so
 * once a connection of ours made now has arrived, any the agent made before it has arrived too.
 */
async function acceptedBefore(p: Peer): Promise<number[]> {
  const ours = connect({ host: p.host, port: p.port });
  ours.on('error', () => {});
  await new Promise<void>((r) => ours.once('connect', r));
  const mine = ours.localPort!;
  for (let i = 0; !p.accepted.includes(mine); i++) {
    if (i > 500) throw new Error('our own connection never arrived');
    await new Promise((r) => setTimeout(r, 5));
  }
  ours.destroy();
  return p.accepted.filter((port) => port !== mine);
}

/** Writes `next()` again and again as fast as the agent reads, until the socket is closed. */
/** Writes `next()` as fast as the socket takes it; while `hold()` says so it pauses, until `resume()`. */
function flood(s: Socket, first: Buffer, next: () => Buffer, hold: () => boolean = () => false): { resume(): void } {
  const pump = () => {
    while (!s.destroyed && !hold() && s.write(next()));
  };
  s.write(first);
  s.on('drain', pump);
  pump();
  return { resume: pump };
}

/** Writes `bytes` one byte every `everyMs`, looping over them, until the socket is closed. */
function drip(s: Socket, first: Buffer, bytes: Buffer, everyMs: number): void {
  s.write(first);
  let i = 0;
  const t = setInterval(() => {
    if (s.destroyed) return clearInterval(t);
    s.write(bytes.subarray(i, i + 1));
    i = (i + 1) % bytes.length;
  }, everyMs);
  s.on('close', () => clearInterval(t));
}

// ---- talking to the agent

interface DumpAnswer {
  status: number;
  json: any;
  bytes: Buffer;
  headers: Record<string, string | string[] | undefined>;
}

/** POST /v1/coverage/jacoco; `dispatcher` lets a test close its connections to the agent afterwards. */
async function dump(body: Record<string, unknown>, dispatcher?: Dispatcher): Promise<DumpAnswer> {
  const res = await request(`${base}/v1/coverage/jacoco`, {
    method: 'POST',
    headers: { authorization: await bearer(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(dispatcher ? { dispatcher } : {}),
  });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  const json = String(res.headers['content-type']).startsWith('application/json') ? JSON.parse(bytes.toString()) : undefined;
  return { status: res.statusCode, json, bytes, headers: res.headers };
}

/**
 * A kept-open HTTP/1.1 connection to the agent for timing /healthz: no handshake and next to no client
 * work inside the measurement, so what is measured is the agent's answer.
 */
async function healthzProbe(): Promise<{ timed(): Promise<{ status: number; ms: number }>; close(): void }> {
  const url = new URL(base);
  const s = connect({ host: url.hostname, port: Number(url.port) });
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', r));
  s.setNoDelay(true);
  return {
    timed: () =>
      new Promise((resolve, reject) => {
        let got = Buffer.alloc(0);
        const onData = (d: Buffer) => {
          got = Buffer.concat([got, d]);
          const text = got.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          const length = /\r\ncontent-length: (\d+)/i.exec(text);
          if (end < 0 || !length || got.length < end + 4 + Number(length[1])) return;
          s.off('data', onData);
          resolve({ status: Number(text.slice(9, 12)), ms: performance.now() - t0 });
        };
        s.on('data', onData);
        s.once('close', () => reject(new Error('healthz connection closed')));
        const t0 = performance.now();
        s.write(`GET /healthz HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      }),
    close: () => s.destroy(),
  };
}

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Samples the agent's RSS every few ms until stopped; answers the largest value seen. */
function watchRss(pid: number): { stop(): number } {
  let most = rssKb(pid);
  const t = setInterval(() => {
    most = Math.max(most, rssKb(pid));
  }, 5);
  return {
    stop() {
      clearInterval(t);
      return Math.max(most, rssKb(pid));
    },
  };
}

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Left in the coverage spool directory: nothing, once every dump has been answered. */
function coverageLeftovers(): string[] {
  try {
    return readdirSync(join(tmp, 'state', 'coverage'));
  } catch {
    return [];
  }
}

beforeAll(async () => {
  const listen = `127.0.0.1:${await freePort()}`;
  signer = await createPortTokenSigner();
  const proc = spawn(process.execPath, [binJs, 'agent'], {
    cwd: repoRoot,
    // Its own process group, killed as a whole in afterAll.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // agentTestEnv: as root, its tasks run as the tests' task user.
    env: agentTestEnv({
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      HTTPAGENT_AGENT_ID: AGENT_ID,
      // Enrollment fails (no controller), so the job loop waits; the port serves on, its keys pinned.
      HTTPAGENT_ENROLL_TOKEN: 'hostile-enroll-token-0123456789abcdef',
      HTTPAGENT_PORT_TOKEN_KEYS_FILE: writePortKeysFile(tmp, signer),
      HTTPAGENT_LISTEN: listen,
      // Nothing listens there: the job loop retries in the background, the port serves on.
      HTTPAGENT_CONTROLLER_URL: `http://127.0.0.1:${await freePort()}`,
      HTTPAGENT_STATE_DIR: join(tmp, 'state'),
      HTTPAGENT_TASKS_DIR: tmp,
      HTTPAGENT_LOG_LEVEL: 'error',
      HTTPAGENT_RUN_CONCURRENCY: String(POOL),
      HTTPAGENT_RUN_QUEUE: '0',
      HTTPAGENT_JACOCO_TIMEOUT_SEC: String(DEADLINE_SEC),
      HTTPAGENT_JACOCO_MAX_BYTES: String(MAX_BYTES),
      HTTPAGENT_JACOCO_HOSTS: '127.0.0.3',
    }),
  });
  agent = track(proc);
  base = `http://${listen}`;
  // Bounded poll until the port answers.
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 200 || agent.proc.exitCode !== null) throw new Error(`agent did not start:\n${agent.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 60_000);

afterAll(async () => {
  if (agent?.proc.pid) {
    try {
      process.kill(-agent.proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await agent.exited();
  }
  for (const s of peerSockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  rmSync(tmp, { recursive: true, force: true });
});

describe('hostile JaCoCo peers against a real agent process', () => {
  // Liveness, not speed: the answer must come while the flood is still being read (the parser yields in
  // short turns). How fast it comes (issue 11's "within 50 ms") is the jacoco-flood figure of bench/
  // (bench/figures/jacoco-flood.ts), not an assertion that flakes on a busy machine.
  it('answers /healthz while a never-ending flood is being read', async () => {
    let sent = 0;
    let flooding!: () => void;
    const busy = new Promise<void>((r) => (flooding = r));
    // The last MiB before the cap is held back until /healthz has answered, so the dump is still in
    // flight when the probe's answer comes: with the whole flood sent, a machine that delayed the probe's
    // reply (CI, two suites' worth of processes) let the agent read all 8 MiB and answer 413 first, and
    // the test failed with the agent perfectly responsive. How soon /healthz answers during a flood is the
    // jacoco-flood bench figure.
    let probing = true;
    let stream: { resume(): void } | undefined;
    const endless = await peer((s) => {
      stream = flood(
        s,
        Buffer.concat([header, session]),
        () => {
          if ((sent += classRun.length) > 1024 * 1024) flooding();
          return classRun;
        },
        () => probing && sent > MAX_BYTES - 1024 * 1024,
      );
    });
    const probe = await healthzProbe(); // connected beforehand: the measured call is the agent's answer, not a handshake
    let answered = false;
    const answer = dump({ port: endless.port }).finally(() => (answered = true));
    await busy; // the agent has read a megabyte and is parsing the rest as fast as the peer sends it
    const probed = await probe.timed(); // single shot
    const inFlight = !answered;
    probing = false;
    stream?.resume();
    probe.close();
    const r = await answer; // before any assertion, so a failure here leaves no dump holding a pool slot
    await endless.closed;

    expect(probed.status).toBe(200);
    expect(inFlight).toBe(true);
    expect([r.status, r.json.error.code]).toEqual([413, 'COVERAGE_TOO_LARGE']);
  });

  it('refuses every hostile reply with a code, stays under 200 MB RSS and keeps no spool files', async () => {
    const pid = agent!.proc.pid!;
    const oversized = await peer((s) => s.write(reply31MB));
    const wide = await peer((s) => flood(s, Buffer.concat([header, session, wideClassHead]), () => Buffer.alloc(65_536, 0xff)));
    const endless = await peer((s) => flood(s, Buffer.concat([header, session]), () => classRun));
    const dripping = await peer((s) => drip(s, header, Buffer.concat([session, classRun]), 5));
    const malformed = await peer((s) => s.write(Buffer.concat([header, session, classRun, classRun, Buffer.of(0x99), classRun])));
    const peers = [oversized, wide, endless, dripping, malformed];

    const fdsBefore = openFds(pid);
    const rss = watchRss(pid);
    const own = new Agent(); // our connections to the agent, closed below so its fd count can come back down
    const [tooBig, tooWide, neverEnding, slow, garbage] = await Promise.all(peers.map((p) => dump({ port: p.port }, own)));
    const mostRssKb = rss.stop();
    await own.close();

    expect([tooBig!.status, tooBig!.json.error.code]).toEqual([413, 'COVERAGE_TOO_LARGE']);
    expect([tooWide!.status, tooWide!.json.error.code]).toEqual([413, 'COVERAGE_TOO_LARGE']);
    expect([neverEnding!.status, neverEnding!.json.error.code]).toEqual([413, 'COVERAGE_TOO_LARGE']);
    expect([slow!.status, slow!.json.error.code]).toEqual([502, 'JACOCO_TIMEOUT']);
    expect([garbage!.status, garbage!.json.error.code]).toEqual([502, 'JACOCO_PROTOCOL']);
    expect(mostRssKb).toBeLessThan(RSS_LIMIT_KB);

    // The agent hung up on every peer (none of them ever stops on its own).
    await Promise.all(peers.map((p) => p.closed));
    expect(isAlive(pid)).toBe(true);
    const after = await health();
    expect(after).toMatchObject({ status: 'ok', lightTasks: { active: 0, queued: 0 } });
    expect(coverageLeftovers()).toEqual([]);
    // Every JaCoCo socket and spool fd was closed (bounded poll: the job loop's controller retries open and
    // close sockets too, and the agent closes its side of our connections when it sees them end).
    for (let i = 0; openFds(pid) > fdsBefore; i++) {
      if (i > 100) throw new Error(`the agent holds ${openFds(pid)} fds, ${fdsBefore} before the dumps`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 30_000);

  it('counts dumps against the light-task pool: one past it is refused with 429 and Retry-After', async () => {
    const slow = await peer((s) => drip(s, header, Buffer.concat([session, classRun]), 20));
    const inFlight = Array.from({ length: POOL }, () => dump({ port: slow.port }));
    // Bounded poll until all of them hold a slot and their sockets are open.
    for (let i = 0; ; i++) {
      const h = await health();
      if (h.lightTasks.active === POOL && slow.accepted.length === POOL) break;
      if (i > 200) throw new Error(`pool never filled: ${JSON.stringify(h.lightTasks)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const refused = await dump({ port: slow.port });
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('OVERLOADED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(await acceptedBefore(slow)).toHaveLength(POOL); // the refused call opened no socket

    for (const r of await Promise.all(inFlight)) expect([r.status, r.json.error.code]).toEqual([502, 'JACOCO_TIMEOUT']);
  }, 30_000);

  it('refuses a host outside jacocoHosts with 403 before any connection, whatever the port', async () => {
    const forbidden = await peer((s) => s.end(), '127.0.0.2');
    const closedPort = await freePort();
    const answers = [
      await dump({ host: '127.0.0.2', port: forbidden.port }), // a listener is there
      await dump({ host: '127.0.0.2', port: closedPort }), // nothing is there
      await dump({ host: 'jacoco.invalid', port: forbidden.port }), // not even resolved
      await dump({ host: '127.1', port: forbidden.port }), // another spelling of loopback is not the loopback address
    ];
    for (const a of answers) {
      expect(a.status).toBe(403);
      expect(a.json.error.code).toBe('JACOCO_HOST_NOT_ALLOWED');
    }
    // Same answer for an open and a closed port: nothing to scan with.
    expect(answers[1]!.json.error.message).toBe(answers[0]!.json.error.message);

    expect(await acceptedBefore(forbidden)).toEqual([]);
  });

  it('dumps from a host listed in jacocoHosts, bytes and counts intact', async () => {
    const good = Buffer.concat([header, session, cls(1), cls(2)]);
    const listed = await peer((s) => s.write(Buffer.concat([good, Buffer.of(0x20)])), '127.0.0.3');
    const r = await dump({ host: '127.0.0.3', port: listed.port });
    expect(r.status).toBe(200);
    expect(r.headers['x-jacoco-classes']).toBe('2');
    expect(r.bytes.equals(good)).toBe(true);
    expect(parseExecFile(r.bytes).classes.map((c) => c.name)).toEqual(['com/ex/C1', 'com/ex/C2']);
    expect(coverageLeftovers()).toEqual([]);
  });
});
