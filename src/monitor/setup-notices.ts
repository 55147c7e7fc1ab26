// Setup problems: a check that cannot run because of how the host is set up (supervisord's socket
// refuses the monitor's user) is not a failing service. Each is logged and mailed once, with its fix, and
// never becomes an incident that mails every few hours. "Once" outlives restarts: the problems already
// told are kept in stateDir; one that goes away is forgotten, so its return is told again.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../shared/log.js';
import type { Mailer } from '../shared/mailer.js';

export interface SetupProblem {
  /** Stable identity: the same problem found again is not told again. */
  key: string;
  /** One line: what cannot be done. */
  summary: string;
  /** What to do about it. */
  fix: string;
}

export interface SetupNotices {
  /** The problems found in one round of checks (none: all that were told are resolved). */
  round(problems: readonly SetupProblem[]): Promise<void>;
}

export interface SetupNoticesOptions {
  stateDir: string;
  host: string;
  mailer: Mailer;
  logger: Logger;
}

const toldSchema = z.object({ told: z.array(z.string()) });

export function setupNoticesPath(stateDir: string): string {
  return join(stateDir, 'monitor', 'setup-notices.json');
}

export function createSetupNotices(o: SetupNoticesOptions): SetupNotices {
  const file = setupNoticesPath(o.stateDir);
  let told: Set<string> | undefined;

  const load = async (): Promise<Set<string>> => {
    try {
      const parsed = toldSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
      return new Set(parsed.success ? parsed.data.told : []);
    } catch {
      return new Set(); // none yet, or unreadable: at worst a problem is told once more
    }
  };
  const save = async (keys: Set<string>): Promise<void> => {
    try {
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      await writeFile(tmp, JSON.stringify({ told: [...keys] }) + '\n', { mode: 0o600 });
      await rename(tmp, file);
    } catch (err) {
      o.logger.error({ err: (err as Error).message, path: file }, 'cannot save the setup notices told');
    }
  };

  return {
    async round(problems) {
      told ??= await load();
      let dirty = false;
      const now = new Set(problems.map((p) => p.key));
      for (const key of [...told]) {
        if (now.has(key)) continue;
        told.delete(key);
        dirty = true;
        o.logger.info({ setup: key }, 'setup problem resolved');
      }
      for (const p of problems) {
        if (told.has(p.key)) continue;
        o.logger.error({ setup: p.key, fix: p.fix }, `setup problem: ${p.summary}`);
        try {
          await o.mailer.send({ subject: `httpagent ${o.host}: setup problem: ${p.summary}`, text: `${p.summary}.\n\nFix: ${p.fix}\n\nThis is mailed once; it is not an incident and sends no reminders.\n` });
        } catch (err) {
          // Not marked as told: the next round tries the mail again.
          o.logger.error({ err: (err as Error).message, setup: p.key }, 'setup problem mail failed; trying again next round');
          continue;
        }
        told.add(p.key);
        dirty = true;
      }
      if (dirty) await save(told);
    },
  };
}
