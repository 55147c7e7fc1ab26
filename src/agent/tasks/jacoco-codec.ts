// JaCoCo's execution-data / remote-control wire format (exec version 0x1007): block encoders and an
// incremental block parser. Byte-level facts are in shared/reference/jacoco-protocol.md.
import { HttpAgentError } from '../../shared/errors.js';

export const BLOCK_HEADER = 0x01;
export const BLOCK_SESSIONINFO = 0x10;
export const BLOCK_EXECUTIONDATA = 0x11;
export const BLOCK_CMDOK = 0x20;
export const BLOCK_CMDDUMP = 0x40;
export const EXEC_MAGIC = 0xc0c0;
export const EXEC_VERSION = 0x1007;

/** The stream violates the format: wrong magic or version, unknown block, malformed string. */
export class JacocoProtocolError extends HttpAgentError {
  override name = 'JacocoProtocolError';
  constructor(message: string) {
    super('JACOCO_PROTOCOL', message);
  }
}

/** Thrown inside the parser when the buffer ends mid-block; the caller waits for more bytes. */
class NeedMoreBytes extends Error {}

export interface SessionInfo {
  id: string;
  start: bigint;
  dump: bigint;
}

export interface ExecutionData {
  /** CRC64 of the class file: unsigned 64-bit. */
  id: bigint;
  /** VM name with `/` separators. */
  name: string;
  probes: boolean[];
}

export type Block =
  | { type: 'header'; version: number }
  | { type: 'session'; session: SessionInfo }
  | { type: 'execution'; data: ExecutionData }
  | { type: 'cmdok' }
  | { type: 'dump-command'; dump: boolean; reset: boolean };

// ---- modified UTF-8 (java.io.DataOutput.writeUTF): each UTF-16 unit encoded on its own, NUL as C0 80

export function encodeModifiedUtf8(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x01 && c <= 0x7f) bytes.push(c);
    else if (c <= 0x7ff) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Buffer.from(bytes);
}

export function decodeModifiedUtf8(buf: Uint8Array): string {
  const units: number[] = [];
  for (let i = 0; i < buf.length; ) {
    const a = buf[i]!;
    if (a < 0x80) {
      if (a === 0) throw new JacocoProtocolError('raw NUL byte in a modified UTF-8 string');
      units.push(a);
      i += 1;
    } else if ((a & 0xe0) === 0xc0) {
      const b = cont(buf, i + 1);
      units.push(((a & 0x1f) << 6) | b);
      i += 2;
    } else if ((a & 0xf0) === 0xe0) {
      const b = cont(buf, i + 1);
      const c = cont(buf, i + 2);
      units.push(((a & 0x0f) << 12) | (b << 6) | c);
      i += 3;
    } else {
      throw new JacocoProtocolError(`invalid modified UTF-8 lead byte 0x${a.toString(16)}`);
    }
  }
  // Code units straight to a JS string: surrogate pairs reassemble themselves.
  let out = '';
  for (let i = 0; i < units.length; i += 4096) out += String.fromCharCode(...units.slice(i, i + 4096));
  return out;
}

function cont(buf: Uint8Array, i: number): number {
  const b = buf[i];
  if (b === undefined || (b & 0xc0) !== 0x80) throw new JacocoProtocolError('truncated or malformed modified UTF-8 sequence');
  return b & 0x3f;
}

// ---- encoders (used to build the dump command, .exec files and test fixtures)

export function encodeVarInt(value: number): Buffer {
  const out: number[] = [];
  let v = value >>> 0;
  while ((v & ~0x7f) !== 0) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

export function encodeBooleanArray(values: readonly boolean[]): Buffer {
  const packed = Buffer.alloc(Math.ceil(values.length / 8));
  values.forEach((v, i) => {
    if (v) packed[i >> 3]! |= 1 << (i & 7);
  });
  return Buffer.concat([encodeVarInt(values.length), packed]);
}

function encodeUtf(s: string): Buffer {
  const body = encodeModifiedUtf8(s);
  if (body.length > 0xffff) throw new RangeError('string too long for modified UTF-8 (65535 bytes)');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([len, body]);
}

function encodeLong(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, v));
  return b;
}

export function encodeHeader(version = EXEC_VERSION): Buffer {
  const b = Buffer.alloc(5);
  b[0] = BLOCK_HEADER;
  b.writeUInt16BE(EXEC_MAGIC, 1);
  b.writeUInt16BE(version, 3);
  return b;
}

export function encodeSessionInfo(s: SessionInfo): Buffer {
  return Buffer.concat([Buffer.of(BLOCK_SESSIONINFO), encodeUtf(s.id), encodeLong(s.start), encodeLong(s.dump)]);
}

export function encodeExecutionData(d: ExecutionData): Buffer {
  return Buffer.concat([Buffer.of(BLOCK_EXECUTIONDATA), encodeLong(d.id), encodeUtf(d.name), encodeBooleanArray(d.probes)]);
}

export function encodeDumpCommand(dump: boolean, reset: boolean): Buffer {
  return Buffer.of(BLOCK_CMDDUMP, dump ? 1 : 0, reset ? 1 : 0);
}

// ---- incremental parser

export interface ParsedBlock {
  block: Block;
  /** The block's bytes exactly as received (copied into a .exec file unchanged). */
  raw: Buffer;
}

/**
 * Splits a byte stream into blocks. Feed chunks as they arrive; `next()` returns a whole block or
 * undefined when the current one is still incomplete, so a reply split at any byte boundary parses the same.
 */
export class BlockParser {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private sawHeader = false;

  push(chunk: Buffer): void {
    this.buf = this.pos === this.buf.length ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.pos = 0;
  }

  /** Bytes received but not yet returned as a block (non-zero at EOF means a truncated block). */
  get pending(): number {
    return this.buf.length - this.pos;
  }

  next(): ParsedBlock | undefined {
    if (this.pos >= this.buf.length) return undefined;
    const r = new Cursor(this.buf, this.pos);
    let block: Block;
    try {
      block = this.readBlock(r);
    } catch (err) {
      if (err instanceof NeedMoreBytes) return undefined;
      throw err;
    }
    const raw = this.buf.subarray(this.pos, r.pos);
    this.pos = r.pos;
    return { block, raw };
  }

  private readBlock(r: Cursor): Block {
    const type = r.u8();
    if (!this.sawHeader && type !== BLOCK_HEADER) {
      throw new JacocoProtocolError(`stream does not start with a JaCoCo header block (first byte 0x${type.toString(16).padStart(2, '0')})`);
    }
    switch (type) {
      case BLOCK_HEADER: {
        const magic = r.u16();
        if (magic !== EXEC_MAGIC) throw new JacocoProtocolError(`bad magic 0x${magic.toString(16)} (expected 0xc0c0)`);
        const version = r.u16();
        if (version !== EXEC_VERSION) throw new JacocoProtocolError(`unsupported exec format version 0x${version.toString(16)} (expected 0x1007)`);
        this.sawHeader = true;
        return { type: 'header', version };
      }
      case BLOCK_SESSIONINFO:
        return { type: 'session', session: { id: r.utf(), start: r.i64(), dump: r.i64() } };
      case BLOCK_EXECUTIONDATA:
        return { type: 'execution', data: { id: r.u64(), name: r.utf(), probes: r.booleanArray() } };
      case BLOCK_CMDOK:
        return { type: 'cmdok' };
      case BLOCK_CMDDUMP:
        return { type: 'dump-command', dump: r.u8() !== 0, reset: r.u8() !== 0 };
      default:
        throw new JacocoProtocolError(`unknown block type 0x${type.toString(16).padStart(2, '0')}`);
    }
  }
}

/** Reads big-endian primitives; running past the end throws NeedMoreBytes. */
class Cursor {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
  ) {}

  private take(n: number): number {
    if (this.pos + n > this.buf.length) throw new NeedMoreBytes();
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.buf[this.take(1)]!;
  }
  u16(): number {
    return this.buf.readUInt16BE(this.take(2));
  }
  i64(): bigint {
    return this.buf.readBigInt64BE(this.take(8));
  }
  u64(): bigint {
    return this.buf.readBigUInt64BE(this.take(8));
  }
  utf(): string {
    const n = this.u16();
    const at = this.take(n);
    return decodeModifiedUtf8(this.buf.subarray(at, at + n));
  }
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.u8();
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return value;
    }
    throw new JacocoProtocolError('varint longer than 5 bytes');
  }
  booleanArray(): boolean[] {
    const len = this.varint();
    // A probe array is bounded by the class's branches; anything near 2^31 is garbage, not a class.
    if (len > 0x7fffffff) throw new JacocoProtocolError(`probe array length ${len} out of range`);
    const at = this.take(Math.ceil(len / 8));
    const out = new Array<boolean>(len);
    for (let i = 0; i < len; i++) out[i] = (this.buf[at + (i >> 3)]! & (1 << (i & 7))) !== 0;
    return out;
  }
}

/** Parses a complete .exec file (header, sessions, classes); a truncated file is a protocol error. */
export function parseExecFile(bytes: Buffer): { sessions: SessionInfo[]; classes: ExecutionData[] } {
  const p = new BlockParser();
  p.push(bytes);
  const sessions: SessionInfo[] = [];
  const classes: ExecutionData[] = [];
  for (let b = p.next(); b; b = p.next()) {
    if (b.block.type === 'session') sessions.push(b.block.session);
    else if (b.block.type === 'execution') classes.push(b.block.data);
  }
  if (p.pending > 0) throw new JacocoProtocolError(`truncated exec data: ${p.pending} bytes of an incomplete block`);
  return { sessions, classes };
}
