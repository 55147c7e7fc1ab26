// The agent's credential on disk, `<stateDir>/credential`: written once by the agent when it enrolls,
// read by the agent and by the monitor on the same host. The one file on a host that speaks for it.
import { closeSync, fstatSync, openSync, readFileSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { ConfigError } from './errors.js';
import { parseCredential } from './protocol/identity.js';

export const CREDENTIAL_FILE = 'credential';

export interface StoredCredential {
  agentId: string;
  /** The whole bearer value, `ha1:<agentId>:<secret>`. Never logged. */
  bearer: string;
}

export function credentialPath(stateDir: string): string {
  return join(stateDir, CREDENTIAL_FILE);
}

/**
 * The credential, or undefined when the file does not exist (the agent has not enrolled yet). Throws
 * ConfigError, naming the file and what to do, when it exists but cannot be trusted: not a regular file
 * (a symlink could point it anywhere), another user's, readable by group or others, or not a credential.
 */
export function readCredential(stateDir: string): StoredCredential | undefined {
  const file = credentialPath(stateDir);
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink planted in place of the file is refused, not followed.
    fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new ConfigError(`${file} is a symlink; remove it (the agent enrolls again) or put the credential file itself there`);
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ConfigError(`${file} is not a regular file`);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) throw new ConfigError(`${file} belongs to uid ${st.uid}, not to this process's user (uid ${uid}); the agent and the monitor must run as the user that owns it`);
    if ((st.mode & 0o077) !== 0) throw new ConfigError(`${file} is readable or writable by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 on it`);
    const text = readFileSync(fd, 'utf8').trim();
    const parsed = parseCredential(text);
    // The content is a secret: the message says what is wrong, never what is there.
    if (!parsed) throw new ConfigError(`${file} does not hold a credential (ha1:<agentId>:<secret>); remove it and the agent enrolls again`);
    return { agentId: parsed.agentId, bearer: text };
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes the credential so that no reader ever sees a partial file and no other user ever can: mode
 * 0600 from the first byte, an exclusive temp file renamed into place (atomic-file.ts).
 */
export function writeCredential(stateDir: string, bearer: string): StoredCredential {
  const parsed = parseCredential(bearer);
  if (!parsed) throw new Error('refusing to write a malformed credential');
  writeFileAtomic(credentialPath(stateDir), `${bearer}\n`, 0o600);
  return { agentId: parsed.agentId, bearer };
}
