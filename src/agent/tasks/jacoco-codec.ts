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

/** A dump over a configured limit (total bytes, or probes in one class): refused rather than buffered. */
export class CoverageTooLargeError extends HttpAgentError {
  override name = 'CoverageTooLargeError';
  constructor(message: string) {
    super('COVERAGE_TOO_LARGE', message);
  }
}

/**
 * Thrown inside the parser when the bytes end mid-block. Not an Error: it is thrown once per field
 * boundary a block is split at, and a stack trace each time would be wasted.
 */
class NeedMoreBytes {
  /** Bytes (counted from the start of the block) needed before another attempt can get further. */
  constructor(readonly upTo: number) {}
}

export interface SessionInfo {
  id: string;
  start: bigint;
  dump: bigint;
}

/**
 * Probe flags as they are on the wire: `count` flags packed LSB first into ceil(count/8) bytes. Kept
 * packed so a class with a million probes costs 125 KB, not a million-entry JS array.
 */
export interface PackedProbes {
  count: number;
  /** A view of the received bytes when parsed (shares their memory). */
  bits: Buffer;
}

export interface ExecutionData {
  /** CRC64 of the class file: unsigned 64-bit. */
  id: bigint;
  /** VM name with `/` separators. */
  name: string;
  probes: PackedProbes;
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

export function decodeModifiedUtf8(buf: Buffer): string {
  // Class names are nearly always plain ASCII, where modified UTF-8 is ASCII: a native copy, several
  // times faster than building code units, and a dump can hold hundreds of thousands of names.
  if (isPlainAscii(buf)) return buf.toString('latin1');
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

function isPlainAscii(buf: Uint8Array): boolean {
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (b === 0 || b >= 0x80) return false;
  }
  return true;
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

export function packProbes(values: readonly boolean[]): PackedProbes {
  const bits = Buffer.alloc(Math.ceil(values.length / 8));
  values.forEach((v, i) => {
    if (v) bits[i >> 3]! |= 1 << (i & 7);
  });
  return { count: values.length, bits };
}

export function probeHit(probes: PackedProbes, i: number): boolean {
  return (probes.bits[i >> 3]! & (1 << (i & 7))) !== 0;
}

export function encodeBooleanArray(values: readonly boolean[] | PackedProbes): Buffer {
  const p = 'count' in values ? values : packProbes(values);
  return Buffer.concat([encodeVarInt(p.count), p.bits]);
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

/** Test fixtures pass the probes as booleans; a parsed block's packed probes encode back unchanged. */
export function encodeExecutionData(d: Omit<ExecutionData, 'probes'> & { probes: readonly boolean[] | PackedProbes }): Buffer {
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

export interface BlockParserOptions {
  /** Most probes one class may have; a longer array is refused as soon as its length is read. */
  maxProbes?: number;
}

/** A probe array is an int-indexed Java array: anything longer is garbage, not a class. */
const MAX_PROBE_ARRAY = 0x7fffffff;
const EMPTY = Buffer.alloc(0);

/**
 * Splits a byte stream into blocks as it arrives. Feed chunks with `push`; `next()` returns a whole
 * block, or undefined while the current one is incomplete, so a reply split at any byte boundary
 * parses the same. What it holds back is at most one incomplete block, and a block is bounded by its
 * fields (UTF strings are at most 65535 bytes, probes at most `maxProbes`/8 bytes), so memory does not
 * grow with the reply. A block split into many pieces is re-read only once the bytes it was missing
 * have arrived, and held-back bytes grow geometrically: a reply dripped a byte at a time costs O(1)
 * per byte, not a copy and a re-parse of everything held.
 */
export class BlockParser {
  private buf: Buffer = EMPTY;
  /** First byte of the block being parsed. */
  private start = 0;
  /** End of the received bytes in `buf` (beyond it, when we allocated `buf`, is free space). */
  private end = 0;
  /** Bytes from `start` needed before the next attempt can get further than the last one. */
  private need = 1;
  private sawHeader = false;
  private readonly maxProbes: number;

  constructor(opts: BlockParserOptions = {}) {
    this.maxProbes = Math.min(opts.maxProbes ?? MAX_PROBE_ARRAY, MAX_PROBE_ARRAY);
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const held = this.end - this.start;
    if (held === 0) {
      // Nothing held back: parse straight from the chunk, no copy.
      this.buf = chunk;
      this.start = 0;
      this.end = chunk.length;
    } else if (this.buf.length - this.end >= chunk.length) {
      // Room left in a buffer we allocated. Bytes before `end` were maybe handed out as `raw`: never rewritten.
      chunk.copy(this.buf, this.end);
      this.end += chunk.length;
    } else {
      const next = Buffer.allocUnsafe(Math.max(held + chunk.length, 2 * held, 4096));
      this.buf.copy(next, 0, this.start, this.end);
      chunk.copy(next, held);
      this.buf = next;
      this.start = 0;
      this.end = held + chunk.length;
    }
  }

  /** Bytes received but not yet returned as a block (non-zero at EOF means a truncated block). */
  get pending(): number {
    return this.end - this.start;
  }

  next(): ParsedBlock | undefined {
    if (this.end - this.start < this.need) return undefined;
    const r = new Cursor(this.buf, this.start, this.end);
    let block: Block;
    try {
      block = this.readBlock(r);
    } catch (err) {
      if (err instanceof NeedMoreBytes) {
        this.need = err.upTo - this.start;
        return undefined;
      }
      throw err;
    }
    const raw = this.buf.subarray(this.start, r.pos);
    this.start = r.pos;
    this.need = 1;
    // Let go of a fully parsed chunk; `raw` keeps alive only what the caller still holds.
    if (this.start === this.end) {
      this.buf = EMPTY;
      this.start = this.end = 0;
    }
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
      case BLOCK_SESSIONINFO: {
        const id = r.utf();
        const start = r.i64();
        const dump = r.i64();
        return { type: 'session', session: { id: decodeModifiedUtf8(id), start, dump } };
      }
      case BLOCK_EXECUTIONDATA: {
        const id = r.u64();
        const name = r.utf();
        const count = r.varint();
        if (count > MAX_PROBE_ARRAY) throw new JacocoProtocolError(`probe array length ${count} out of range`);
        // Refused on the length alone, before a single probe byte is held.
        if (count > this.maxProbes) {
          throw new CoverageTooLargeError(`class ${JSON.stringify(decodeModifiedUtf8(name))} has ${count} probes; the limit is ${this.maxProbes}`);
        }
        const bits = r.bytes(Math.ceil(count / 8));
        // Decoded only now that the block is whole: an attempt that runs short does no string work.
        return { type: 'execution', data: { id, name: decodeModifiedUtf8(name), probes: { count, bits } } };
      }
      case BLOCK_CMDOK:
        return { type: 'cmdok' };
      case BLOCK_CMDDUMP:
        return { type: 'dump-command', dump: r.u8() !== 0, reset: r.u8() !== 0 };
      default:
        throw new JacocoProtocolError(`unknown block type 0x${type.toString(16).padStart(2, '0')}`);
    }
  }
}

/** Reads big-endian primitives from buf[pos, end); running past `end` throws NeedMoreBytes. */
class Cursor {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}

  private take(n: number): number {
    if (this.pos + n > this.end) throw new NeedMoreBytes(this.pos + n);
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
  bytes(n: number): Buffer {
    const at = this.take(n);
    return this.buf.subarray(at, at + n);
  }
  /** A UTF string's bytes, still modified UTF-8. */
  utf(): Buffer {
    return this.bytes(this.u16());
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
}

/** Parses a complete .exec file (header, sessions, classes); a truncated file is a protocol error. */
export function parseExecFile(bytes: Buffer, opts: BlockParserOptions = {}): { sessions: SessionInfo[]; classes: ExecutionData[] } {
  const p = new BlockParser(opts);
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
