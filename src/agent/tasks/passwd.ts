// Looking up a local account in /etc/passwd by reading the file (no shell, no getent), for the home
// directory and the uid/gid that own ~/.ssh.
import { readFile } from 'node:fs/promises';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || !f[5]?.startsWith('/')) continue;
    out.push({ name: f[0]!, uid, gid, home: f[5] });
  }
  return out;
}

/** The entry for `name`, or undefined. `passwdFile` is a test seam; production reads /etc/passwd. */
export async function lookupUser(name: string, passwdFile = '/etc/passwd'): Promise<PasswdEntry | undefined> {
  return parsePasswd(await readFile(passwdFile, 'utf8')).find((e) => e.name === name);
}
