// Finds the running programs of an install by their command line, so the update guard can restart
// them without privileges: it sends SIGTERM (same user) and the supervisor starts `current` again.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Pids whose argv holds `<prefix>/current/dist/src/bin/httpagent.js` followed by `command`. */
export function findAgentPids(prefix: string, command = 'agent', procDir = '/proc'): number[] {
  const entry = join(prefix, 'current', 'dist', 'src', 'bin', 'httpagent.js');
  const pids: number[] = [];
  for (const name of readdirSync(procDir)) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let argv: string[];
    try {
      argv = readFileSync(join(procDir, name, 'cmdline'), 'utf8').split('\0');
    } catch {
      continue; // gone, or not ours to read
    }
    const i = argv.indexOf(entry);
    if (i > 0 && argv[i + 1] === command) pids.push(Number(name));
  }
  return pids;
}
