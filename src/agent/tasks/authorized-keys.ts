// POST/DELETE /v1/authorize: adding and removing one key in a user's ~/.ssh/authorized_keys, with the
// modes and owner sshd insists on, written atomically and serialised per file.
import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { HttpAgentError, NotFoundError } from '../../shared/errors.js';
import { lookupUser, type PasswdEntry } from './passwd.js';
import { lineHasKey } from './authorized-keys-line.js';
import { authorizedKeyLine, type SshPublicKey } from './ssh-public-key.js';

export interface AuthorizeOptions {
  allowedUsers: readonly string[];
  /** Test seam: a passwd file whose entries point at temp homes. Production: /etc/passwd. */
  passwdFile?: string | undefined;
}

/** added / removed: the file changed · present: the key was already there · absent: nothing to remove. */
export type AuthorizeStatus = 'added' | 'present' | 'removed' | 'absent';

export interface AuthorizeResult {
  user: string;
  status: AuthorizeStatus;
  fingerprint: string;
  file: string;
}

// In-process lock per file: every writer of these files in the agent goes through here, so a chain of
// promises serialises them (no read-modify-write race between two concurrent requests).
const locks = new Map<string, Promise<unknown>>();
async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(file) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(file, tail);
  try {
    return await run;
  } finally {
    if (locks.get(file) === tail) locks.delete(file);
  }
}

async function resolveUser(user: string, opts: AuthorizeOptions): Promise<PasswdEntry> {
  if (!opts.allowedUsers.includes(user)) {
    throw new HttpAgentError('USER_NOT_ALLOWED', `user "${user}" is not in authorizeUsers`, { statusCode: 403 });
  }
  const entry = await lookupUser(user, opts.passwdFile);
  if (!entry) throw new NotFoundError('USER_NOT_FOUND', `user "${user}" does not exist on this host`);
  return entry;
}

const asRoot = () => process.getuid?.() === 0;

/** ~/.ssh as a real directory (never a symlink that would redirect our writes), 0700, owned by the user. */
async function ensureSshDir(entry: PasswdEntry): Promise<string> {
  const home = await lstat(entry.home).catch(() => undefined);
  if (!home?.isDirectory()) throw new HttpAgentError('HOME_MISSING', `home directory of "${entry.name}" does not exist`, { statusCode: 409 });
  const dir = join(entry.home, '.ssh');
  const st = await lstat(dir).catch(() => undefined);
  if (!st) {
    await mkdir(dir, { mode: 0o700 });
  } else if (!st.isDirectory()) {
    throw new HttpAgentError('UNSAFE_SSH_DIR', `${dir} is not a plain directory`, { statusCode: 409 });
  }
  if (asRoot()) await chown(dir, entry.uid, entry.gid);
  await chmod(dir, 0o700);
  return dir;
}

async function readKeys(file: string): Promise<string[] | undefined> {
  const st = await lstat(file).catch(() => undefined);
  if (!st) return undefined;
  if (!st.isFile()) throw new HttpAgentError('UNSAFE_SSH_DIR', `${file} is not a regular file`, { statusCode: 409 });
  const text = await readFile(file, 'utf8');
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** Temp file in the same directory, fsynced, then renamed over: sshd sees the old file or the new one. */
async function writeKeys(file: string, lines: string[], entry: PasswdEntry): Promise<void> {
  const tmp = `${file}.httpagent-${randomBytes(6).toString('hex')}`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(lines.length ? lines.join('\n') + '\n' : '');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    if (asRoot()) await chown(tmp, entry.uid, entry.gid);
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export async function addAuthorizedKey(user: string, key: SshPublicKey, opts: AuthorizeOptions): Promise<AuthorizeResult> {
  const entry = await resolveUser(user, opts);
  const dir = await ensureSshDir(entry);
  const file = join(dir, 'authorized_keys');
  return withFileLock(file, async () => {
    const lines = (await readKeys(file)) ?? [];
    if (lines.some((l) => lineHasKey(l, key))) return { user, status: 'present', fingerprint: key.fingerprint, file };
    await writeKeys(file, [...lines, authorizedKeyLine(key)], entry);
    return { user, status: 'added', fingerprint: key.fingerprint, file };
  });
}

export async function removeAuthorizedKey(user: string, key: SshPublicKey, opts: AuthorizeOptions): Promise<AuthorizeResult> {
  const entry = await resolveUser(user, opts);
  const dir = join(entry.home, '.ssh');
  const file = join(dir, 'authorized_keys');
  const st = await lstat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new HttpAgentError('UNSAFE_SSH_DIR', `${dir} is not a plain directory`, { statusCode: 409 });
  return withFileLock(file, async () => {
    const lines = st ? await readKeys(file) : undefined;
    const kept = lines?.filter((l) => !lineHasKey(l, key));
    if (!lines || !kept || kept.length === lines.length) return { user, status: 'absent', fingerprint: key.fingerprint, file };
    await writeKeys(file, kept, entry);
    return { user, status: 'removed', fingerprint: key.fingerprint, file };
  });
}
