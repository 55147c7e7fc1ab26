// Filesystem use of the mounts that matter, through statfs(2) (no `df` process).
import { statfs } from 'node:fs/promises';

export interface FsFigures {
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** As df prints it: used / (used + available to unprivileged users). */
  usedPercent: number;
}

export interface StatfsLike {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
}

export function fsFigures(s: StatfsLike): FsFigures | null {
  if (s.blocks <= 0) return null;
  const used = (s.blocks - s.bfree) * s.bsize;
  const avail = s.bavail * s.bsize;
  const denom = used + avail;
  return {
    totalBytes: s.blocks * s.bsize,
    usedBytes: used,
    availableBytes: avail,
    usedPercent: denom > 0 ? Math.round((10_000 * used) / denom) / 100 : 0,
  };
}

/** Use of each mount; a mount that cannot be read (unmounted, no permission) is absent. */
export async function readFilesystems(mounts: readonly string[]): Promise<Record<string, FsFigures>> {
  const out: Record<string, FsFigures> = {};
  await Promise.all(
    mounts.map(async (m) => {
      try {
        const f = fsFigures(await statfs(m));
        if (f) out[m] = f;
      } catch {
        // absent from the sample; the disk-full check reports it as unreadable
      }
    }),
  );
  return out;
}
