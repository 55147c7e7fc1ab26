// tasks.yaml, the manifest beside the task scripts: which account each task runs as and the operator
// settings put in its environment. The agent loads it at start and `--self-test` checks it, so a
// release with a broken manifest never becomes current.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { taskNameSchema } from '../protocol/job.js';

export const TASK_MANIFEST_FILE = 'tasks.yaml';

/** Names the account a task runs as owns: a setting that changed them would make the task lie about who it is. */
const ACCOUNT_NAMES = new Set(['HOME', 'USER', 'LOGNAME']);

/**
 * An operator setting's name: upper case like any environment variable a script reads, and never
 * HTTPAGENT_* (those are the agent's own settings and the params' names; a setting must not pass for either).
 */
export const taskEnvNameSchema = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]{0,127}$/, 'setting names are 1-128 of [A-Z0-9_], starting with a letter')
  .refine((n) => !n.startsWith('HTTPAGENT_'), 'HTTPAGENT_* names are the agent\'s own, not a task setting')
  .refine((n) => !ACCOUNT_NAMES.has(n), 'HOME, USER and LOGNAME are set from the account the task runs as');

/** A record whose bad keys are reported with the key schema's own message (zod says only "Invalid key in record"). */
function keyedRecord<V extends z.ZodType>(key: z.ZodType<string>, value: V) {
  return z.record(z.string(), value).superRefine((record, ctx) => {
    for (const k of Object.keys(record)) {
      const r = key.safeParse(k);
      if (!r.success) ctx.addIssue({ code: 'custom', path: [k], message: r.error.issues[0]!.message });
    }
  });
}

/** Setting values are strings (quote numbers in YAML); a NUL cannot travel in an environment variable. */
export const taskEnvSchema = keyedRecord(
  taskEnvNameSchema,
  z.string({ error: 'setting values are strings (quote numbers and booleans in YAML)' }).refine((v) => !v.includes('\0'), 'a setting cannot hold a NUL'),
);
export type TaskEnv = z.infer<typeof taskEnvSchema>;

/** task: the agent's unprivileged task user (taskUser) · root: root, only when the manifest says so. */
export const runAsSchema = z.enum(['task', 'root']);
export type RunAs = z.infer<typeof runAsSchema>;

export const taskManifestSchema = z.strictObject({
  version: z.literal(1),
  /** Settings every task gets, under its own. No runAs here: root is granted task by task, never by default. */
  defaults: z.strictObject({ env: taskEnvSchema.default({}) }).default({ env: {} }),
  tasks: keyedRecord(
    taskNameSchema,
    z.strictObject({
      runAs: runAsSchema.default('task'),
      env: taskEnvSchema.default({}),
    }),
  ).default({}),
});
export type TaskManifest = z.infer<typeof taskManifestSchema>;

/** What an agent without a manifest uses: every task as the task user, no settings. */
export const emptyTaskManifest: TaskManifest = { version: 1, defaults: { env: {} }, tasks: {} };

export interface LoadedTaskManifest {
  manifest: TaskManifest;
  /** The file read; undefined when tasksDir has no tasks.yaml. */
  file: string | undefined;
}

/** Reads `<tasksDir>/tasks.yaml`; throws ConfigError naming the file and the first bad key. */
export function loadTaskManifest(tasksDir: string): LoadedTaskManifest {
  const file = join(tasksDir, TASK_MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { manifest: emptyTaskManifest, file: undefined };
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const result = taskManifestSchema.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(top level)';
    throw new ConfigError(`${file}: ${where}: ${issue.message}`);
  }
  return { manifest: result.data, file };
}
