// Whether a given process is the one listening on a TCP port, from /proc (Linux). npm start probes the
// ports it asked its children to listen on; an answer from that port proves nothing until the port is
// known to be the child's: another process may have taken it before the child bound it (seen in the
// suite, where parallel tests pick free ports: a controller waiting for Redis looked "up" because some
// other test's server answered /healthz on its port).
import { readdir, readFile, readlink } from 'node:fs/promises';

/** Socket inodes listening on `port` (any address), from /proc/net/tcp and tcp6. */
async function listeningInodes(port: number): Promise<Set<string> | undefined> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  let readAny = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(table, 'utf8');
    } catch {
      continue;
    }
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st ... inode: the state 0A is LISTEN
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === '0A' && f[1]?.endsWith(`:${hexPort}`)) inodes.add(f[9]!);
    }
  }
  return readAny ? inodes : undefined;
}

/**
 * True when `pid` holds a socket listening on `port`; false when it does not (yet); undefined where /proc
 * cannot tell (not Linux), for the caller to go by the port's answer alone.
 */
export async function listensOn(pid: number, port: number): Promise<boolean | undefined> {
  const inodes = await listeningInodes(port);
  if (inodes === undefined) return undefined;
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return false; // gone (our own children's descriptors are readable while they live)
  }
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && inodes.has(m[1]!)) return true;
  }
  return false;
}
