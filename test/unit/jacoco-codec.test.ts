// The JaCoCo wire codec against the byte vectors in shared/reference/jacoco-protocol.md and a reply
// captured off a real 0.8.6 agent (fixtures/jacoco/capture-reply.sh).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  BlockParser,
  type PackedProbes,
  packProbes,
  probeHit,
  decodeModifiedUtf8,
  encodeBooleanArray,
  encodeExecutionData,
  encodeHeader,
  encodeModifiedUtf8,
  encodeSessionInfo,
  encodeVarInt,
  parseExecFile,
} from '../../src/agent/tasks/jacoco-codec.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Captured from JaCoCo 0.8.6 (reference §5): header, session "sess-é-☃", class Loop with 11 probes, CMDOK.
const capturedReply = hex(`
  01c0c01007
  10 000b 736573732dc3a92de29883 000001a2131394b5 000001a213139c5a
  11 bea5a1911074bd1f 0004 4c6f6f70 0b f6 01
  20`);

// Header, session "capture-é", classes App and Calculator (id with the top bit set), CMDOK.
const realReply = readFileSync(new URL('../fixtures/jacoco/reply-0.8.6.bin', import.meta.url));

const hits = (p: PackedProbes) => Array.from({ length: p.count }, (_, i) => i).filter((i) => probeHit(p, i));

function parseAll(bytes: Buffer, chunk = bytes.length, opts: { maxProbes?: number } = {}) {
  const p = new BlockParser(opts);
  const blocks = [];
  for (let i = 0; i < bytes.length; i += chunk) {
    p.push(bytes.subarray(i, i + chunk));
    for (let b = p.next(); b; b = p.next()) blocks.push(b);
  }
  return { blocks, pending: p.pending };
}

/** The raw blocks (hex) of `bytes` pushed in pieces cut at `cuts`; throws if anything is left over. */
function rawsWithCuts(bytes: Buffer, cuts: number[]): string[] {
  const p = new BlockParser();
  const got: string[] = [];
  const bounds = [0, ...cuts, bytes.length];
  for (let i = 1; i < bounds.length; i++) {
    p.push(bytes.subarray(bounds[i - 1], bounds[i]));
    for (let b = p.next(); b; b = p.next()) got.push(b.raw.toString('hex'));
  }
  if (p.pending !== 0) throw new Error(`${p.pending} bytes left over`);
  return got;
}

describe('modified UTF-8', () => {
  it('encodes NUL as C0 80 and a supplementary character as two 3-byte surrogates', () => {
    expect(encodeModifiedUtf8('a\u0000b').toString('hex')).toBe('61c08062');
    expect(encodeModifiedUtf8('😀').toString('hex')).toBe('eda0bdedb880');
    expect(encodeModifiedUtf8('é☃').toString('hex')).toBe('c3a9e29883');
  });

  it('round-trips NUL, BMP and supplementary characters', () => {
    const s = 'com/ex/Nine\u0000Nul/é/☃/😀/\u07ff/\u0800';
    expect(decodeModifiedUtf8(encodeModifiedUtf8(s))).toBe(s);
  });

  it('refuses a raw NUL byte and a cut multi-byte sequence', () => {
    expect(() => decodeModifiedUtf8(hex('6100'))).toThrow(expect.objectContaining({ code: 'JACOCO_PROTOCOL' }));
    expect(() => decodeModifiedUtf8(hex('e298'))).toThrow(expect.objectContaining({ code: 'JACOCO_PROTOCOL' }));
    expect(() => decodeModifiedUtf8(hex('f09f9880'))).toThrow(expect.objectContaining({ code: 'JACOCO_PROTOCOL' }));
  });
});

describe('varint and probe arrays', () => {
  it('encodes varints least significant group first', () => {
    expect(encodeVarInt(0).toString('hex')).toBe('00');
    expect(encodeVarInt(127).toString('hex')).toBe('7f');
    expect(encodeVarInt(128).toString('hex')).toBe('8001');
    expect(encodeVarInt(300).toString('hex')).toBe('ac02');
  });

  it('packs probes LSB first with unused high bits zero', () => {
    const probes = [false, true, true, false, true, true, true, true, true, false, false];
    expect(encodeBooleanArray(probes).toString('hex')).toBe('0bf601');
    const many = Array.from({ length: 300 }, (_, i) => i % 7 === 0);
    const enc = encodeBooleanArray(many);
    expect(enc.subarray(0, 2).toString('hex')).toBe('ac02');
    expect(enc.length).toBe(2 + 38);
  });

  it('matches the Java-written class vector, with NUL in the name and a negative id', () => {
    const nine = Array.from({ length: 9 }, (_, i) => i === 8);
    expect(encodeExecutionData({ id: 0x2an, name: 'com/ex/Nine\u0000Nul', probes: nine }).toString('hex')).toBe(
      '11000000000000002a0010636f6d2f65782f4e696e65c0804e756c090001',
    );
    const neg = encodeExecutionData({ id: -0x0123456789abcdefn, name: 'X', probes: [] });
    expect(neg.subarray(1, 9).toString('hex')).toBe('fedcba9876543211');
  });
});

describe('BlockParser', () => {
  it('parses the captured 0.8.6 reply', () => {
    const { blocks, pending } = parseAll(capturedReply);
    expect(pending).toBe(0);
    expect(blocks.map((b) => b.block.type)).toEqual(['header', 'session', 'execution', 'cmdok']);
    const session = blocks[1]!.block;
    expect(session).toEqual({ type: 'session', session: { id: 'sess-é-☃', start: 1795616380085n, dump: 1795616382042n } });
    const exec = blocks[2]!.block;
    if (exec.type !== 'execution') throw new Error('expected execution data');
    expect(exec.data.id).toBe(0xbea5a1911074bd1fn); // top bit set, kept unsigned
    expect(exec.data.name).toBe('Loop');
    expect(exec.data.probes.count).toBe(11);
    expect(hits(exec.data.probes)).toEqual([1, 2, 4, 5, 6, 7, 8]);
  });

  it('parses the same reply split at every byte boundary', () => {
    const whole = parseAll(capturedReply).blocks.map((b) => b.raw.toString('hex'));
    for (let cut = 1; cut < capturedReply.length; cut++) {
      const p = new BlockParser();
      const got: string[] = [];
      for (const part of [capturedReply.subarray(0, cut), capturedReply.subarray(cut)]) {
        p.push(part);
        for (let b = p.next(); b; b = p.next()) got.push(b.raw.toString('hex'));
      }
      expect(got, `cut at ${cut}`).toEqual(whole);
    }
    expect(parseAll(capturedReply, 1).blocks.map((b) => b.raw.toString('hex'))).toEqual(whole);
  });

  it('round-trips encoded sessions and classes', () => {
    const bytes = Buffer.concat([
      encodeHeader(),
      encodeSessionInfo({ id: 'host-😀', start: 1n, dump: 2n }),
      encodeExecutionData({ id: 0xffffffffffffffffn, name: 'a/B$1', probes: [true, false, true] }),
      encodeHeader(), // concatenated .exec files repeat the header: legal
      encodeExecutionData({ id: 7n, name: 'a/C', probes: [] }),
    ]);
    const { sessions, classes } = parseExecFile(bytes);
    expect(sessions).toEqual([{ id: 'host-😀', start: 1n, dump: 2n }]);
    expect(classes).toEqual([
      { id: 0xffffffffffffffffn, name: 'a/B$1', probes: packProbes([true, false, true]) },
      { id: 7n, name: 'a/C', probes: packProbes([]) },
    ]);
  });

  it('reports a truncated stream as a protocol error', () => {
    const cut = capturedReply.subarray(0, 30);
    expect(() => parseExecFile(cut)).toThrow(expect.objectContaining({ code: 'JACOCO_PROTOCOL' }));
  });

  it('refuses a wrong first byte, magic, version and an unknown block', () => {
    for (const bad of ['48545450', '01c0c11007', '01c0c01006', '01c0c0100799']) {
      expect(() => parseAll(hex(bad)), bad).toThrow(expect.objectContaining({ code: 'JACOCO_PROTOCOL' }));
    }
  });
});

describe('BlockParser on a stream (a real 0.8.6 reply)', () => {
  const whole = parseAll(realReply).blocks.map((b) => b.raw.toString('hex'));

  it('parses the captured reply: session, two classes, CMDOK, nothing left over', () => {
    const { blocks, pending } = parseAll(realReply);
    expect(pending).toBe(0);
    expect(blocks.map((b) => b.block.type)).toEqual(['header', 'session', 'execution', 'execution', 'cmdok']);
    expect(blocks[1]!.block).toMatchObject({ type: 'session', session: { id: 'capture-é' } });
    const calc = blocks[3]!.block;
    if (calc.type !== 'execution') throw new Error('expected execution data');
    expect(calc.data.name).toBe('Calculator');
    expect(calc.data.id >> 63n).toBe(1n);
    expect(calc.data.probes.count).toBe(7);
    expect(hits(calc.data.probes)).toEqual([1, 2, 3, 4, 5]); // unused() never ran: not every probe is hit
    expect(whole.join('')).toBe(realReply.toString('hex'));
  });

  it('parses the same blocks when the reply is split in two at every byte boundary', () => {
    for (let cut = 1; cut < realReply.length; cut++) expect(rawsWithCuts(realReply, [cut]), `cut at ${cut}`).toEqual(whole);
  });

  it('parses the same blocks when the reply is split in three at every pair of byte boundaries', () => {
    for (let a = 1; a < realReply.length - 1; a++) {
      for (let b = a + 1; b < realReply.length; b++) expect(rawsWithCuts(realReply, [a, b]), `cuts at ${a},${b}`).toEqual(whole);
    }
  });

  it('keeps every raw block intact while later bytes arrive (views are never written over)', () => {
    for (const size of [1, 2, 3, 5, 7, 13]) {
      // Compared only after the last push: a later chunk copied over an earlier view would show here.
      expect(parseAll(realReply, size).blocks.map((b) => b.raw.toString('hex')), `chunks of ${size}`).toEqual(whole);
    }
  });

  it('keeps the probes as a view of the received bytes, not an expanded array', () => {
    const { blocks } = parseAll(realReply);
    const calc = blocks[3]!;
    if (calc.block.type !== 'execution') throw new Error('expected execution data');
    const { bits } = calc.block.data.probes;
    expect(bits.length).toBe(1);
    expect(bits.buffer).toBe(realReply.buffer); // the same memory: nothing was copied or unpacked
    expect(calc.raw.subarray(-1).equals(bits)).toBe(true);
  });

  it('parses a class of a million probes dripped a byte at a time, holding back no more than that block', () => {
    const probes: PackedProbes = { count: 1_000_000, bits: Buffer.alloc(125_000, 0xa5) };
    const block = encodeExecutionData({ id: 1n, name: 'Big', probes });
    const big = Buffer.concat([encodeHeader(), block, Buffer.of(0x20)]);
    const p = new BlockParser({ maxProbes: 1_000_000 });
    const types: string[] = [];
    let bigBits: Buffer | undefined;
    let mostHeld = 0;
    for (let i = 0; i < big.length; i++) {
      p.push(big.subarray(i, i + 1));
      mostHeld = Math.max(mostHeld, p.pending);
      for (let b = p.next(); b; b = p.next()) {
        types.push(b.block.type);
        if (b.block.type === 'execution') bigBits = b.block.data.probes.bits;
      }
    }
    expect(types).toEqual(['header', 'execution', 'cmdok']);
    expect(bigBits!.equals(probes.bits)).toBe(true);
    expect(mostHeld).toBe(block.length);
  });

  it('refuses a class over maxProbes with COVERAGE_TOO_LARGE from its length alone, before any probe byte', () => {
    const head = Buffer.concat([encodeHeader(), hex('11 0000000000000001 0003 426967'), encodeVarInt(1_000_001)]);
    const p = new BlockParser({ maxProbes: 1_000_000 });
    p.push(head); // no probe bytes at all
    expect(p.next()?.block.type).toBe('header');
    expect(() => p.next()).toThrow(expect.objectContaining({ code: 'COVERAGE_TOO_LARGE', statusCode: 413 }));
    const ok = new BlockParser({ maxProbes: 1_000_000 });
    ok.push(Buffer.concat([encodeHeader(), hex('11 0000000000000001 0003 426967'), encodeVarInt(1_000_000)]));
    expect(ok.next()?.block.type).toBe('header');
    expect(ok.next()).toBeUndefined(); // waits for the 125000 probe bytes
  });

  it('refuses a probe length beyond a Java array as a protocol error', () => {
    const bad = Buffer.concat([encodeHeader(), hex('11 0000000000000001 0001 41'), hex('ffffffff0f')]);
    expect(() => parseAll(bad)).toThrow(expect.objectContaining({ code: 'JACOCO_PROTOCOL' }));
  });
});
