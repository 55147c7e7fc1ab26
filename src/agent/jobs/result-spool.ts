// The on-disk spool of jobs this agent holds: one directory per claimed attempt with its meta, its log
// and, once it ends, its result, written before anything is sent. What is left here after a
// crash or a controller outage is delivered on the next start.
import { mkdir, readdir, readFile, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { completeRequestSchema, type CompleteRequest } from '../../shared/protocol/agent-api.js';

export const spoolMetaSchema = z.object({
  id: z.string(),
  epoch: z.number().int(),
  attempt: z.number().int(),
  claimedAt: z.string(),
});
export type SpoolMeta = z.infer<typeof spoolMetaSchema>;

/** The result as spooled: the complete request without the piggy-backed claim. */
export const spooledResultSchema = completeRequestSchema.omit({ claim: true });
export type SpooledResult = Omit<CompleteRequest, 'claim'>;

export interface JobSpool {
  dir: string;
  meta: SpoolMeta;
  logPath: string;
  /** The result, on disk (atomically) before this resolves. */
  writeResult(result: SpooledResult): Promise<void>;
  remove(): Promise<void>;
}

/**
 * A job directory found at start. No pid is kept (a file per step would cost three file operations):
 * leftovers.ts finds a step tree left running by the job id in its environment.
 */
export interface Leftover extends JobSpool {
  result: SpooledResult | undefined;
}

/** The files a job directory holds. */
const SPOOL_FILES = ['meta.json', 'log', 'result.json'];

export interface ResultSpool {
  root: string;
  create(meta: SpoolMeta): Promise<JobSpool>;
  /** Every job directory left by an earlier run (or earlier in this one), oldest first. */
  leftovers(): Promise<Leftover[]>;
}

/** Job ids are free-form strings: base64url makes them safe, reversible file names. */
const dirName = (meta: Pick<SpoolMeta, 'id' | 'epoch'>) => `${Buffer.from(meta.id).toString('base64url')}.${meta.epoch}`;

/**
 * A single JSON object needs no rename to be whole-or-nothing: a torn write is a strict prefix of it,
 * which never parses, and a reader treats an unparsable file as absent (as if the crash came before).
 * One system call fewer per file on the job path. No fsync: the page cache outlives a killed agent,
 * and if the machine itself goes down the lease lapses and the controller re-delivers the job, so a
 * sync per job would buy nothing but latency.
 */
async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value));
}

function spoolAt(dir: string, meta: SpoolMeta): JobSpool {
  return {
    dir,
    meta,
    logPath: join(dir, 'log'),
    async writeResult(result) {
      await writeJson(join(dir, 'result.json'), result);
    },
    async remove() {
      // The files this module writes, by name: cheaper than a recursive walk on every finished job. A
      // directory that holds something else (put there by hand) is walked after all rather than left to
      // be found again at every start.
      await Promise.all(SPOOL_FILES.map((name) => unlink(join(dir, name)).catch(() => undefined)));
      await rmdir(dir).catch(() => rm(dir, { recursive: true, force: true }));
    },
  };
}

export async function createResultSpool(stateDir: string): Promise<ResultSpool> {
  const root = join(stateDir, 'jobs');
  await mkdir(root, { recursive: true });
  return {
    root,
    async create(meta) {
      const dir = join(root, dirName(meta));
      await mkdir(dir, { recursive: true });
      await writeJson(join(dir, 'meta.json'), meta);
      return spoolAt(dir, meta);
    },
    async leftovers() {
      const out: Leftover[] = [];
      for (const name of await readdir(root)) {
        const dir = join(root, name);
        const meta = spoolMetaSchema.safeParse(await readJson(join(dir, 'meta.json')));
        if (!meta.success) {
          // Debris of a crash between mkdir and meta.json: nothing was claimed into it that we can report.
          if ((await stat(dir).catch(() => undefined))?.isDirectory()) await rm(dir, { recursive: true, force: true });
          continue;
        }
        const result = spooledResultSchema.safeParse(await readJson(join(dir, 'result.json')));
        out.push({ ...spoolAt(dir, meta.data), result: result.success ? result.data : undefined });
      }
      return out.sort((a, b) => a.meta.claimedAt.localeCompare(b.meta.claimedAt));
    },
  };
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}
