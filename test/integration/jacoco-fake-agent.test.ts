// The TCP dump client against a fake JaCoCo agent written from the spec: replies split into single
// bytes, garbage, EOF before CMDOK, silence, nothing listening.
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeExecutionData, encodeHeader, encodeSessionInfo, parseExecFile } from '../../src/agent/tasks/jacoco-codec.js';
import { dumpJacoco as dumpTo, type JacocoDumpOptions } from '../../src/agent/tasks/jacoco-dump.js';
import { freePort } from '../helpers/ports.js';
import { waitUntil } from '../helpers/wait.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Answers each connection with `onCommand(commandBytes)` once header + command have arrived. */
async function fakeAgent(reply: (cmd: Buffer, socket: Socket) => void): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket);
    let got = Buffer.alloc(0);
    socket.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 8) reply(got, socket);
    });
    socket.on('error', () => {});
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

const session = encodeSessionInfo({ id: 'fake', start: 1000n, dump: 2000n });
const cls = encodeExecutionData({ id: 0x8000000000000001n, name: 'com/ex/Foo', probes: [true, false, true, true] });
const opts = { host: '127.0.0.1', reset: false, timeoutMs: 2000, maxBytes: 1 << 20, maxProbes: 1000 };

/** Dumps into memory: the .exec bytes beside the counts. */
async function dumpJacoco(o: Omit<JacocoDumpOptions, 'out'>) {
  const parts: Buffer[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      parts.push(chunk);
      done();
    },
  });
  const dump = await dumpTo({ ...o, out });
  return { ...dump, exec: Buffer.concat(parts) };
}

describe('dumpJacoco', () => {
  it('sends header + dump command and builds an .exec from a reply split into single bytes', async () => {
    let command = '';
    const port = await fakeAgent((cmd, socket) => {
      command = cmd.toString('hex');
      const reply = Buffer.concat([encodeHeader(), session, cls, Buffer.of(0x20)]);
      for (const byte of reply) socket.write(Buffer.of(byte));
    });
    const dump = await dumpJacoco({ ...opts, port, reset: true });
    expect(command).toBe('01c0c01007400101');
    expect(dump.sessions).toBe(1);
    expect(dump.classes).toBe(1);
    expect(dump.exec.equals(Buffer.concat([encodeHeader(), session, cls]))).toBe(true);
    expect(dump.bytes).toBe(dump.exec.length);
    expect(parseExecFile(dump.exec).classes[0]!.name).toBe('com/ex/Foo');
  });

  it('stops at CMDOK at block position even when 0x20 bytes appear inside payloads', async () => {
    const spaced = encodeExecutionData({ id: 0x2020202020202020n, name: '    ', probes: [] });
    const port = await fakeAgent((_c, s) => s.write(Buffer.concat([encodeHeader(), session, spaced, Buffer.of(0x20)])));
    const dump = await dumpJacoco({ ...opts, port });
    expect(dump.classes).toBe(1);
  });

  it('answers JACOCO_PROTOCOL for garbage and for EOF before CMDOK', async () => {
    const garbage = await fakeAgent((_c, s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await expect(dumpJacoco({ ...opts, port: garbage })).rejects.toMatchObject({ code: 'JACOCO_PROTOCOL', statusCode: 502 });
    const early = await fakeAgent((_c, s) => s.end(Buffer.concat([encodeHeader(), session, cls.subarray(0, 5)])));
    await expect(dumpJacoco({ ...opts, port: early })).rejects.toMatchObject({ code: 'JACOCO_PROTOCOL' });
    const badVersion = await fakeAgent((_c, s) => s.write(Buffer.from('01c0c01006', 'hex')));
    await expect(dumpJacoco({ ...opts, port: badVersion })).rejects.toMatchObject({ code: 'JACOCO_PROTOCOL' });
  });

  it('answers JACOCO_TIMEOUT when the agent never completes, and closes the socket', async () => {
    let peerClosed!: () => void;
    const closed = new Promise<void>((r) => (peerClosed = r));
    const port = await fakeAgent((_c, s) => {
      s.write(encodeHeader());
      s.on('close', () => peerClosed());
    });
    await expect(dumpJacoco({ ...opts, port, timeoutMs: 200 })).rejects.toMatchObject({ code: 'JACOCO_TIMEOUT' });
    await closed; // the test times out if the agent kept the socket open
  });

  it('answers JACOCO_UNREACHABLE when nothing listens', async () => {
    const port = await freePort();
    await expect(dumpJacoco({ ...opts, port })).rejects.toMatchObject({ code: 'JACOCO_UNREACHABLE', statusCode: 502 });
  });

  it('answers 413 COVERAGE_TOO_LARGE past maxBytes, and past maxProbes before the probes arrive', async () => {
    const port = await fakeAgent((_c, s) => s.write(Buffer.concat([encodeHeader(), session, ...Array(100).fill(cls)])));
    await expect(dumpJacoco({ ...opts, port, maxBytes: 500 })).rejects.toMatchObject({ code: 'COVERAGE_TOO_LARGE', statusCode: 413 });
    // Only the length of a 2^30-probe array is sent: refused without waiting for its 128 MiB.
    const wide = await fakeAgent((_c, s) => s.write(Buffer.concat([encodeHeader(), session, Buffer.from('1100000000000000010001418080808004', 'hex')])));
    await expect(dumpJacoco({ ...opts, port: wide })).rejects.toMatchObject({ code: 'COVERAGE_TOO_LARGE', statusCode: 413 });
  });
});
