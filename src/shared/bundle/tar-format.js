// The tar format of release bundles, read and written here with node's built-ins only: install.sh reads a
// bundle before anything is installed (see src/ops/release-layout.js for why these files are plain
// JavaScript), and reading it ourselves, rather than through tar(1), means a hostile archive never gets an
// extractor's defaults: only files, directories and symlinks exist, and the caller decides every path.
//
// Written: ustar headers, a pax 'x' header before an entry whose path or link target does not fit.
// Read: ustar, pax 'x' (path, linkpath, size) and 'g' (ignored), GNU 'L'/'K' long names, so an archive
// re-packed with GNU tar still reads.

/** @typedef {'file' | 'dir' | 'symlink'} EntryType */

/**
 * @typedef {object} TarEntry
 * @property {string} path
 * @property {EntryType} type
 * @property {number} mode permission bits only
 * @property {number} size bytes of content (0 but for files)
 * @property {string} [target] a symlink's target
 */

/**
 * @typedef {{ kind: 'entry', entry: TarEntry } | { kind: 'data', chunk: Buffer } | { kind: 'end-entry' }} TarEvent
 */

const BLOCK = 512;
/** Pax and GNU long-name records are a few hundred bytes; more is not an archive we wrote. */
const META_MAX = 64 * 1024;
const TRAILER_MAX = 1024 * 1024;

export class TarFormatError extends Error {
  /**
   * @param {'truncated' | 'malformed'} kind
   * @param {string} message
   */
  constructor(kind, message) {
    super(message);
    this.name = 'TarFormatError';
    /** @readonly */
    this.kind = kind;
  }
}

/**
 * @param {Buffer} buf
 * @param {number} off
 * @param {number} len
 * @returns {string}
 */
function str(buf, off, len) {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end === -1 || end > off + len ? off + len : end);
}

/**
 * @param {Buffer} buf
 * @param {number} off
 * @param {number} len
 * @returns {number}
 */
function octal(buf, off, len) {
  // GNU base-256 for sizes past 8 GiB: never in a bundle, so refused rather than half-supported.
  if ((buf[off] ?? 0) & 0x80) throw new TarFormatError('malformed', 'a base-256 number in a tar header');
  const text = str(buf, off, len).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError('malformed', `not an octal number in a tar header: ${JSON.stringify(text.slice(0, 20))}`);
  return parseInt(text, 8);
}

/**
 * @param {Buffer} h
 * @returns {boolean}
 */
function checksumOk(h) {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : /** @type {number} */ (h[i]);
  return sum === octal(h, 148, 8);
}

/**
 * Pax records: `<len> <key>=<value>\n`, len counting the whole record.
 * @param {Buffer} data
 * @returns {Map<string, string>}
 */
function paxRecords(data) {
  /** @type {Map<string, string>} */
  const out = new Map();
  let off = 0;
  while (off < data.length) {
    const sp = data.indexOf(0x20, off);
    if (sp === -1) throw new TarFormatError('malformed', 'a broken pax record');
    const len = Number(data.toString('ascii', off, sp));
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length) throw new TarFormatError('malformed', 'a broken pax record length');
    const rec = data.toString('utf8', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    off += len;
  }
  return out;
}

/**
 * The events of an uncompressed tar stream, in order: an entry, its data chunks, its end. Throws
 * TarFormatError('truncated') when the stream ends before the end-of-archive blocks, 'malformed' for a
 * header that is not tar or an entry of a type a bundle never holds (hard links, devices, fifos).
 * @param {AsyncIterable<Buffer>} source
 * @returns {AsyncGenerator<TarEvent>}
 */
export async function* readTar(source) {
  const it = source[Symbol.asyncIterator]();
  /** @type {Buffer[]} */
  let parts = [];
  let have = 0;
  let ended = false;
  /** @param {number} n @returns {Promise<boolean>} */
  const fill = async (n) => {
    while (have < n && !ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else {
        parts.push(r.value);
        have += r.value.length;
      }
    }
    return have >= n;
  };
  /** @param {number} n @returns {Buffer} */
  const take = (n) => {
    const all = parts.length === 1 ? /** @type {Buffer} */ (parts[0]) : Buffer.concat(parts);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    parts = rest.length > 0 ? [rest] : [];
    have = rest.length;
    return out;
  };
  /** Up to `max` bytes already read, without waiting for more. @param {number} max @returns {Promise<Buffer>} */
  const some = async (max) => {
    if (have === 0 && !(await fill(1))) throw new TarFormatError('truncated', 'the archive ends inside an entry');
    return Buffer.from(take(Math.min(max, have)));
  };
  /** @param {number} size @returns {Promise<Buffer>} */
  const readMeta = async (size) => {
    if (size > META_MAX) throw new TarFormatError('malformed', `a tar metadata record of ${size} bytes`);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (!(await fill(padded))) throw new TarFormatError('truncated', 'the archive ends inside a metadata record');
    return Buffer.from(take(padded).subarray(0, size));
  };

  /** @type {{ path?: string, target?: string, size?: number }} */
  let next = {};
  for (;;) {
    if (!(await fill(BLOCK))) throw new TarFormatError('truncated', 'the archive ends before its end-of-archive blocks');
    const h = take(BLOCK);
    if (h.every((b) => b === 0)) {
      // End of archive: a second zero block follows; a stream that stops here was cut short.
      if (!(await fill(BLOCK))) throw new TarFormatError('truncated', 'the archive ends inside its end-of-archive blocks');
      // Read to the end, so a gzip stream cut after the archive is still found out; tar(1) pads a
      // record to 10 KiB, more than TRAILER_MAX is not padding.
      let trailing = have - BLOCK;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        trailing += r.value.length;
        if (trailing > TRAILER_MAX) throw new TarFormatError('malformed', 'data after the end of the archive');
      }
    }
    if (!checksumOk(h)) throw new TarFormatError('malformed', 'a tar header with a wrong checksum');
    const flag = String.fromCharCode(/** @type {number} */ (h[156]));
    const size = octal(h, 124, 12);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      const data = await readMeta(size);
      if (flag === 'x') {
        const rec = paxRecords(data);
        const p = rec.get('path');
        const l = rec.get('linkpath');
        const s = rec.get('size');
        if (p !== undefined) next.path = p;
        if (l !== undefined) next.target = l;
        if (s !== undefined) next.size = Number(s);
      } else if (flag === 'L') next.path = str(data, 0, data.length);
      else if (flag === 'K') next.target = str(data, 0, data.length);
      continue;
    }
    const magic = h.toString('ascii', 257, 262);
    const prefix = magic === 'ustar' ? str(h, 345, 155) : '';
    const name = next.path ?? (prefix ? `${prefix}/${str(h, 0, 100)}` : str(h, 0, 100));
    const realSize = next.size ?? size;
    const target = next.target ?? str(h, 157, 100);
    next = {};
    const mode = octal(h, 100, 8) & 0o7777;
    /** @type {EntryType} */
    let type;
    if (flag === '0' || flag === '\0' || flag === '7') type = 'file';
    else if (flag === '5') type = 'dir';
    else if (flag === '2') type = 'symlink';
    else throw new TarFormatError('malformed', `entry ${JSON.stringify(name)} is of tar type ${JSON.stringify(flag)}; a bundle holds files, directories and symlinks only`);
    const path = name.replace(/^\.\//, '').replace(/\/$/, '');
    const entry = type === 'symlink' ? { path, type, mode, size: 0, target } : { path, type, mode, size: type === 'file' ? realSize : 0 };
    yield { kind: 'entry', entry };
    let left = entry.size;
    while (left > 0) {
      const chunk = await some(left);
      left -= chunk.length;
      yield { kind: 'data', chunk };
    }
    const pad = (BLOCK - (entry.size % BLOCK)) % BLOCK;
    if (pad > 0) {
      if (!(await fill(pad))) throw new TarFormatError('truncated', 'the archive ends inside an entry');
      take(pad);
    }
    yield { kind: 'end-entry' };
  }
}

/**
 * @param {Buffer} h
 * @param {number} off
 * @param {number} len
 * @param {number} value
 */
function writeOctal(h, off, len, value) {
  h.write(`${value.toString(8).padStart(len - 1, '0')}\0`, off, len, 'ascii');
}

/**
 * One ustar header block.
 * @param {{ name: string, mode: number, size: number, flag: string, link?: string }} e
 * @returns {Buffer}
 */
function header(e) {
  const h = Buffer.alloc(BLOCK);
  h.write(e.name, 0, 100, 'utf8');
  writeOctal(h, 100, 8, e.mode);
  writeOctal(h, 108, 8, 0);
  writeOctal(h, 116, 8, 0);
  writeOctal(h, 124, 12, e.size);
  // A fixed mtime: the same release packs to the same bytes.
  writeOctal(h, 136, 12, 0);
  h.write(e.flag, 156, 1, 'ascii');
  if (e.link) h.write(e.link, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/**
 * @param {string} key
 * @param {string} value
 * @returns {string}
 */
function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  // The length counts its own digits: grow it until it is stable.
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/**
 * The blocks that start an entry: a pax header first when a name or target is too long for ustar.
 * @param {TarEntry} e
 * @returns {Buffer}
 */
export function entryHeader(e) {
  const name = e.type === 'dir' ? `${e.path}/` : e.path;
  const flag = e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2';
  const link = e.target ?? '';
  /** @type {Buffer[]} */
  const out = [];
  if (Buffer.byteLength(name) > 99 || Buffer.byteLength(link) > 99) {
    const data = Buffer.from(paxRecord('path', name) + (link ? paxRecord('linkpath', link) : ''));
    out.push(header({ name: 'PaxHeader', mode: 0o644, size: data.length, flag: 'x' }), data, padding(data.length));
  }
  out.push(header({ name: Buffer.byteLength(name) > 99 ? name.slice(0, 90) : name, mode: e.mode, size: e.type === 'file' ? e.size : 0, flag, link: Buffer.byteLength(link) > 99 ? '' : link }));
  return Buffer.concat(out);
}

/**
 * Zero bytes that bring `size` up to a whole block.
 * @param {number} size
 * @returns {Buffer}
 */
export function padding(size) {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
