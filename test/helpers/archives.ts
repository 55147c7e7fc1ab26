// Release artifacts for the deploy tests: tar.gz made by the real GNU tar (also the hostile ones, with
// -P to keep "../" and absolute names, and appends to put a file behind a symlink), and zip files
// written here (stored entries) so no zip program is needed to make them.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';

/** path → text content, or {mode} for an executable, or {symlink: target}. */
export type Tree = Record<string, string | { content: string; mode: number } | { symlink: string }>;

export function writeTree(dir: string, tree: Tree): void {
  for (const [path, what] of Object.entries(tree)) {
    const full = join(dir, path);
    mkdirSync(dirname(full), { recursive: true });
    if (typeof what === 'string') writeFileSync(full, what);
    else if ('symlink' in what) symlinkSync(what.symlink, full);
    else {
      writeFileSync(full, what.content);
      chmodSync(full, what.mode);
    }
  }
}

/** A .tar.gz of `tree`, made in `work`. */
export function tgz(work: string, tree: Tree): Buffer {
  const src = join(work, 'src');
  mkdirSync(src, { recursive: true });
  writeTree(src, tree);
  execFileSync('tar', ['-czf', join(work, 'out.tgz'), '-C', src, '.']);
  return readFileSync(join(work, 'out.tgz'));
}

/** A .tar.gz whose members are the given names exactly as written (e.g. "../x" or an absolute path). */
export function tgzRawNames(cwd: string, names: string[]): Buffer {
  const out = join(cwd, '..', 'raw.tgz');
  execFileSync('tar', ['-czPf', out, ...names], { cwd, stdio: 'ignore' });
  return readFileSync(out);
}

/**
 * A .tar.gz with a symlink `link` -> `target` first and then a file `link/pwned` behind it: extracting
 * it naively writes `pwned` into the link's target.
 */
export function tgzWriteThrough(work: string, target: string): Buffer {
  const a = join(work, 'a');
  const b = join(work, 'b');
  mkdirSync(a, { recursive: true });
  mkdirSync(join(b, 'link'), { recursive: true });
  symlinkSync(target, join(a, 'link'));
  writeFileSync(join(b, 'link/pwned'), 'pwned\n');
  const tar = join(work, 'out.tar');
  execFileSync('tar', ['-cf', tar, '-C', a, 'link']);
  execFileSync('tar', ['-rf', tar, '-C', b, 'link/pwned']);
  return gzipSync(readFileSync(tar));
}

/** A zip of regular files (stored, not deflated), with unix modes so unzip keeps executables. */
export function zip(files: Record<string, { content: string; mode?: number }>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, { content, mode = 0o644 }] of Object.entries(files)) {
    const data = Buffer.from(content);
    const fname = Buffer.from(name);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(10, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(fname.length, 26);
    local.writeUInt16LE(0, 28);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0300 | 20, 4); // made by: unix
    central.writeUInt16LE(10, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(0, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(fname.length, 28);
    central.writeUInt32LE(0, 30); // extra, comment lengths
    central.writeUInt32LE(0, 34); // disk, internal attributes
    central.writeUInt32LE(((0o100000 | mode) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, fname, data);
    centrals.push(central, fname);
    offset += local.length + fname.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
