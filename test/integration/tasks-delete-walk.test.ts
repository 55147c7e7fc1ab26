// The descriptor walk of /v1/delete on a real filesystem: what it removes (any name, any file type),
// where it stops (mount points, depth) and how it resolves a root named through a symlink. The races
// are in host-files-race.test.ts.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { compileDeleteRoots, deletePaths } from '../../src/agent/tasks/delete-paths.js';
import { fdPath } from '../../src/agent/tasks/fd-relative.js';

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-walk-'));
const root = join(tmp, 'root');
const outside = join(tmp, 'outside');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
beforeEach(() => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root);
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'precious'), 'keep');
});

const roots = () => compileDeleteRoots([root])();
const outcome = async (...paths: string[]) => (await deletePaths(paths, roots())).map((r) => (r.status === 'refused' ? `refused:${r.reason}` : r.status));

describe('deletePaths walk', () => {
  it('removes names that are not UTF-8, FIFOs and links, leaving link targets alone', async () => {
    const tree = join(root, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    // Latin-1 bytes: a string path would turn 0xE9 into U+FFFD and never find the file again.
    writeFileSync(Buffer.concat([Buffer.from(`${tree}/sub/caf`), Buffer.of(0xe9)]), 'x');
    mkdirSync(Buffer.concat([Buffer.from(`${tree}/dir-`), Buffer.of(0xff)]));
    execFileSync('mkfifo', [join(tree, 'fifo')]);
    symlinkSync(outside, join(tree, 'dir-link'));
    symlinkSync(join(outside, 'precious'), join(tree, 'sub/file-link'));
    expect(await outcome(tree)).toEqual(['deleted']);
    expect(existsSync(tree)).toBe(false);
    expect(readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep');
  });

  it('follows a symlink in the requested parent chain to its real place inside the root', async () => {
    mkdirSync(join(root, 'real/x'), { recursive: true });
    symlinkSync(join(root, 'real'), join(root, 'alias'));
    expect(await outcome(join(root, 'alias/x'))).toEqual(['deleted']);
    expect(existsSync(join(root, 'real/x'))).toBe(false);
    expect(existsSync(join(root, 'alias'))).toBe(true);
  });

  it('refuses a tree more than 512 levels deep as FAILED instead of holding a descriptor per level without bound', async () => {
    const level = (n: number) => join(root, 'deep', ...Array.from({ length: n }, () => 'd'));
    mkdirSync(level(520), { recursive: true });
    expect(await outcome(join(root, 'deep'))).toEqual(['refused:FAILED']);
    expect(existsSync(level(520))).toBe(true);
    // Deleted from the middle first, the rest fits; depth counts below the deleted path, not from the root.
    expect(await outcome(level(100))).toEqual(['deleted']);
    expect(await outcome(join(root, 'deep'))).toEqual(['deleted']);
    expect(readdirSync(root)).toEqual([]);
  });

  it('fdPath names one entry of an open directory and refuses anything that is not a single name', () => {
    expect(fdPath(7, 'x').toString()).toBe('/proc/self/fd/7/x');
    expect(fdPath(7).toString()).toBe('/proc/self/fd/7');
    for (const bad of ['', '.', '..', 'a/b', 'a\0b']) expect(() => fdPath(7, bad), JSON.stringify(bad)).toThrow();
  });
});

const canMount = process.getuid?.() === 0 && (() => {
  const probe = join(tmp, 'mount-probe');
  mkdirSync(probe);
  try {
    execFileSync('mount', ['-t', 'tmpfs', 'none', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(canMount)('a mount point inside a root (skipped unless root may mount tmpfs here)', () => {
  it('is never crossed: the walk stops with OTHER_DEVICE and the mounted files stay', async () => {
    const mnt = join(root, 'tree/mnt');
    mkdirSync(mnt, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'none', mnt]);
    try {
      writeFileSync(join(mnt, 'on-tmpfs'), 'keep');
      expect(await outcome(join(root, 'tree'))).toEqual(['refused:OTHER_DEVICE']);
      expect(await outcome(join(mnt, 'on-tmpfs'))).toEqual(['refused:OTHER_DEVICE']);
      expect(readdirSync(mnt)).toEqual(['on-tmpfs']);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
