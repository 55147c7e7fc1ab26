// Editing ~/.ssh/authorized_keys inside the authorize helper, which runs as the target user: every
// object is opened without following a final symlink, relative to its open parent, and judged by
// fstat of the descriptor; the file is replaced by a temp file renamed over it; modes are set through
// descriptors. Nothing is ever chowned: the helper creates what it creates as the user.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { isHttpAgentError } from '../../shared/errors.js';
import { helperError } from './authorize-helper-protocol.js';
import { lineHasKey } from './authorized-keys-line.js';
import { errnoCode, fdPath, openDirAt } from './fd-relative.js';
import { authorizedKeyLine, parseSshPublicKey } from './ssh-public-key.js';

export type EditStatus = 'added' | 'present' | 'removed' | 'absent';

/** Larger than any real authorized_keys; refusing it keeps a planted huge file from filling memory. */
const MAX_FILE_BYTES = 1 << 20;
const FILE = 'authorized_keys';

/** Whose files these must be: the identity the helper runs as (the target user when the agent is root). */
function me(): { uid: number; gid: number } {
  return { uid: process.geteuid!(), gid: process.getegid!() };
}

async function openHome(home: string): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    // The home path itself comes from the passwd file (administrator's); symlinks in it are followed.
    fh = await open(home, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') throw helperError('HOME_MISSING', `home directory ${home} does not exist`);
    throw err;
  }
  const st = await fh.stat();
  // sshd (StrictModes) only trusts a home owned by the user or root; one owned by another account
  // could have its .ssh swapped by that account.
  if (st.uid !== me().uid && st.uid !== 0) {
    await fh.close();
    throw helperError('UNSAFE_HOME', `home directory ${home} is owned by uid ${st.uid}, not by the user or root`);
  }
  return fh;
}

/** Tries at opening ~/.ssh that a name vanishing and reappearing may cost before we give up. */
const OPEN_ATTEMPTS = 3;

/** ~/.ssh opened O_NOFOLLOW relative to the home; created 0700 when `create` and missing. */
async function openSshDir(home: FileHandle, shown: string, create: boolean): Promise<FileHandle | undefined> {
  for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
    try {
      return await openDirAt(home, '.ssh');
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ELOOP' || code === 'ENOTDIR') throw helperError('UNSAFE_SSH_DIR', `${shown} is a symlink or not a directory`);
      if (code !== 'ENOENT') throw err;
      if (!create) return undefined;
    }
    try {
      // mkdir never follows a final symlink: one planted meanwhile makes this EEXIST and the open ELOOP.
      await mkdir(fdPath(home.fd, '.ssh'), { mode: 0o700 });
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
  }
  throw helperError('UNSAFE_SSH_DIR', `${shown} kept disappearing while being created`);
}

async function checkSshDir(dir: FileHandle, shown: string): Promise<void> {
  const st = await dir.stat();
  if (!st.isDirectory() || st.uid !== me().uid) throw helperError('UNSAFE_SSH_DIR', `${shown} is not a directory owned by uid ${me().uid}`);
  // Through the descriptor: whatever the name points at by now, this is the directory just checked.
  if ((st.mode & 0o7777) !== 0o700) await dir.chmod(0o700);
}

/** The lines of authorized_keys, byte for byte (latin1 keeps any byte as one char), or [] when it does not exist. */
async function readLines(dir: FileHandle, shown: string): Promise<string[]> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted under the name must not hang the open; fstat below refuses it.
    fh = await open(fdPath(dir.fd, FILE), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return [];
    if (code === 'ELOOP') throw helperError('UNSAFE_SSH_DIR', `${shown} is a symlink`);
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw helperError('UNSAFE_SSH_DIR', `${shown} is not a regular file`);
    if (st.uid !== me().uid) throw helperError('UNSAFE_SSH_DIR', `${shown} is owned by uid ${st.uid}, not ${me().uid}`);
    // A second name for the same inode could be a file elsewhere that the user may not rewrite.
    if (st.nlink !== 1) throw helperError('UNSAFE_SSH_DIR', `${shown} has ${st.nlink} hard links`);
    if (st.size > MAX_FILE_BYTES) throw helperError('UNSAFE_SSH_DIR', `${shown} is larger than ${MAX_FILE_BYTES} bytes`);
    const buf = Buffer.alloc(st.size + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > st.size) throw helperError('UNSAFE_SSH_DIR', `${shown} grew while being read`);
    const lines = buf.subarray(0, bytesRead).toString('latin1').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines;
  } finally {
    await fh.close();
  }
}

/** The directory we hold was unlinked (another directory renamed over it): there is nothing to write into. */
const removedWhileEditing = (shown: string) => helperError('UNSAFE_SSH_DIR', `${shown} was removed or replaced while being edited`);

/**
 * A temp file in ~/.ssh (O_EXCL|O_NOFOLLOW: never an existing file or a link), written, fsynced,
 * moded 0600 through its descriptor, renamed over authorized_keys; then the directory is fsynced so
 * the rename survives a crash. sshd sees the old file or the new one, never half of one.
 */
async function writeLines(dir: FileHandle, lines: string[], shown: string): Promise<void> {
  const tmp = `.${FILE}.httpagent-${randomBytes(6).toString('hex')}`;
  let fh: FileHandle;
  try {
    fh = await open(fdPath(dir.fd, tmp), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw removedWhileEditing(shown);
    throw err;
  }
  try {
    try {
      await fh.writeFile(Buffer.from(lines.length ? lines.join('\n') + '\n' : '', 'latin1'));
      await fh.chmod(0o600);
      // A set-group-ID ~/.ssh would give the file the directory's group; sshd wants the user's own.
      if ((await fh.stat()).gid !== me().gid) await fh.chown(me().uid, me().gid);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(fdPath(dir.fd, tmp), fdPath(dir.fd, FILE));
  } catch (err) {
    await unlink(fdPath(dir.fd, tmp)).catch(() => undefined);
    // EISDIR: a directory planted under the name since it was read.
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'EISDIR') throw removedWhileEditing(shown);
    throw err;
  }
  await dir.sync();
}

/** Adds or removes one key in `home`/.ssh/authorized_keys as the user this process runs as. */
export async function editAuthorizedKeys(op: 'add' | 'remove', home: string, publicKey: string): Promise<EditStatus> {
  const key = parseSshPublicKey(publicKey);
  const sshShown = `${home.replace(/\/+$/, '')}/.ssh`;
  const fileShown = `${sshShown}/${FILE}`;
  const homeFh = await openHome(home);
  try {
    const dir = await openSshDir(homeFh, sshShown, op === 'add');
    if (!dir) return 'absent';
    try {
      await checkSshDir(dir, sshShown);
      const lines = await readLines(dir, fileShown);
      if (op === 'add') {
        if (lines.some((l) => lineHasKey(l, key))) return 'present';
        await writeLines(dir, [...lines, authorizedKeyLine(key)], sshShown);
        return 'added';
      }
      const kept = lines.filter((l) => !lineHasKey(l, key));
      if (kept.length === lines.length) return 'absent';
      await writeLines(dir, kept, sshShown);
      return 'removed';
    } finally {
      await dir.close();
    }
  } finally {
    await homeFh.close();
  }
}

/** The helper's answer to a failure: a known refusal as is, anything else as AUTHORIZE_FAILED with its errno. */
export function describeHelperFailure(err: unknown): { code: string; message: string } {
  if (isHttpAgentError(err)) return { code: err.code, message: err.message };
  const errno = errnoCode(err);
  return { code: 'AUTHORIZE_FAILED', message: `authorized_keys could not be changed as uid ${me().uid}: ${errno ?? (err as Error)?.message ?? String(err)}` };
}
