// The open-files limit of this process (from /proc/self/limits): many-agent benches need a socket each.
import { readFileSync } from 'node:fs';

export function getrlimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
