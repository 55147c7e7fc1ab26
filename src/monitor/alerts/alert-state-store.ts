// Keeps the alert state across restarts: a local file in stateDir (atomic replace) and a copy at the
// controller; on start the newer of the two wins, so neither a lost disk nor a controller outage
// makes the monitor forget an incident or mail it again.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { alertStateSchema, type AlertState } from './alert-engine.js';

export const ALERT_STATE_FILE = 'monitor-alert-state.json';

export function alertStatePath(stateDir: string): string {
  return join(stateDir, ALERT_STATE_FILE);
}

/** Parses a stored state; anything unreadable counts as no state (the monitor starts clean). */
export function parseAlertState(raw: unknown): AlertState | null {
  const r = alertStateSchema.safeParse(raw);
  return r.success ? r.data : null;
}

export async function readLocalAlertState(path: string): Promise<AlertState | null> {
  try {
    return parseAlertState(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return null;
  }
}

/**
 * Write to a temp file, fsync it, rename over the old one, fsync the directory: after a crash the file
 * is either the old state or the new one, never half of each.
 */
export async function writeLocalAlertState(path: string, state: AlertState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(JSON.stringify(state));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // some filesystems refuse fsync on a directory; the rename is still atomic
  }
}

export function newerAlertState(a: AlertState | null, b: AlertState | null): AlertState | null {
  if (!a) return b;
  if (!b) return a;
  return b.updatedAt > a.updatedAt ? b : a;
}
