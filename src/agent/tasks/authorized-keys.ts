// POST/DELETE /v1/authorize: adding and removing one key in an allowed user's ~/.ssh/authorized_keys.
// The file work happens in the authorize helper running as that user (authorized-keys-file.ts);
// here: who may be changed, which identity the helper takes, and one edit per file at a time.
import { join } from 'node:path';
import { HttpAgentError, NotFoundError } from '../../shared/errors.js';
import type { AuthorizeHelpers, HelperIdentity } from './authorize-helper.js';
import { lookupUser, type PasswdEntry } from './passwd.js';
import { authorizedKeyLine, type SshPublicKey } from './ssh-public-key.js';

export interface AuthorizeOptions {
  allowedUsers: readonly string[];
  /** Test seam: a passwd file whose entries point at temp homes. Production: /etc/passwd. */
  passwdFile?: string | undefined;
  helpers: AuthorizeHelpers;
}

/** added / removed: the file changed · present: the key was already there · absent: nothing to remove. */
export type AuthorizeStatus = 'added' | 'present' | 'removed' | 'absent';

export interface AuthorizeResult {
  user: string;
  status: AuthorizeStatus;
  fingerprint: string;
  file: string;
}

// One edit per file at a time, even across identities (two passwd entries may share a home): the
// helper's read-modify-write would otherwise lose a concurrent key.
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
    throw new HttpAgentError('USER_NOT_ALLOWED', `user "${user}" is not in authorizeUsers`);
  }
  const entry = await lookupUser(user, opts.passwdFile);
  if (!entry) throw new NotFoundError('USER_NOT_FOUND', `user "${user}" does not exist on this host`);
  return entry;
}

/**
 * As root the helper becomes the user. An agent that is not root cannot: it edits only its own user's
 * file, and says so (403) for anyone else's rather than failing inside the helper.
 */
function identityFor(entry: PasswdEntry): HelperIdentity | undefined {
  const uid = process.getuid?.();
  if (uid === 0) return { uid: entry.uid, gid: entry.gid };
  if (uid !== undefined && entry.uid !== uid) {
    throw new HttpAgentError('AUTHORIZE_NEEDS_ROOT', `the agent runs as uid ${uid}, not root: it can change only its own user's authorized_keys, not ${entry.name}'s`);
  }
  return undefined;
}

async function edit(op: 'add' | 'remove', user: string, key: SshPublicKey, opts: AuthorizeOptions): Promise<AuthorizeResult> {
  const entry = await resolveUser(user, opts);
  const file = join(entry.home, '.ssh', 'authorized_keys');
  const status = await withFileLock(file, () => opts.helpers.edit(identityFor(entry), op, entry.home, authorizedKeyLine(key)));
  return { user, status, fingerprint: key.fingerprint, file };
}

export function addAuthorizedKey(user: string, key: SshPublicKey, opts: AuthorizeOptions): Promise<AuthorizeResult> {
  return edit('add', user, key, opts);
}

export function removeAuthorizedKey(user: string, key: SshPublicKey, opts: AuthorizeOptions): Promise<AuthorizeResult> {
  return edit('remove', user, key, opts);
}
