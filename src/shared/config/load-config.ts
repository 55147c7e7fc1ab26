// Loads one process's configuration from `--config FILE` (YAML or JSON) and HTTPAGENT_* variables
// (which win), validates it against that process's zod schema and reports the first problem by key.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

export const ENV_PREFIX = 'HTTPAGENT_';

/** `deleteRoots` → `HTTPAGENT_DELETE_ROOTS`. */
export function envNameFor(key: string): string {
  return ENV_PREFIX + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export interface LoadSources {
  /** Path given with --config, if any. */
  file?: string | undefined;
  /** The process environment (only bin/ reads process.env; it passes it here). */
  env: Record<string, string | undefined>;
  /** Keys that other processes know: present in a shared file or env, they are not errors here. */
  otherKeys?: readonly string[];
  /** HTTPAGENT_* variables that are not settings (e.g. HTTPAGENT_PARAM_* given to scripts). */
  ignoreEnv?: (name: string) => boolean;
  /**
   * Settings this process no longer takes, each with what replaced it: set in the file or the
   * environment, they are refused (a secret left behind must not sit unused where it can be read).
   */
  retired?: Readonly<Record<string, string>>;
  /** Settings taken from the environment only: written in a file they are refused, with the reason. */
  envOnly?: Readonly<Record<string, string>>;
}

function readFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`, { cause: err });
  }
  if (data === null || data === undefined) return {};
  if (typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(`config file ${file} must hold a mapping of keys to values`);
  return data as Record<string, unknown>;
}

/**
 * Builds the runtime config of one process. `schema` is a strict zod object whose keys are the
 * camelCase setting names; each has an HTTPAGENT_* twin derived by `envNameFor`.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, sources: LoadSources): z.infer<S> {
  const keys = Object.keys(schema.shape);
  const known = new Set([...keys, ...(sources.otherKeys ?? [])]);
  const byEnv = new Map([...known].map((k) => [envNameFor(k), k]));
  const origin = new Map<string, string>(); // key -> how the user spelled it, for messages

  const merged: Record<string, unknown> = {};
  const retired = sources.retired ?? {};
  if (sources.file) {
    const data = readFile(sources.file);
    for (const [k, v] of Object.entries(data)) {
      if (Object.hasOwn(retired, k)) throw new ConfigError(`${sources.file}: ${k} is no longer a setting of this process: ${retired[k]}`);
      if (sources.envOnly && Object.hasOwn(sources.envOnly, k)) throw new ConfigError(`${sources.file}: ${k} may not be written in a file: ${sources.envOnly[k]}`);
      if (!known.has(k)) {
        throw new ConfigError(`${sources.file}: unknown key "${k}"${suggest(k, known)}`);
      }
      if (keys.includes(k)) {
        merged[k] = v;
        origin.set(k, `${sources.file}: ${k}`);
      }
    }
  }
  for (const [name, value] of Object.entries(sources.env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    if (sources.ignoreEnv?.(name)) continue;
    const gone = Object.keys(retired).find((k) => envNameFor(k) === name);
    if (gone) throw new ConfigError(`${name}: no longer a setting of this process: ${retired[gone]}`);
    const key = byEnv.get(name);
    if (!key) throw new ConfigError(`${name}: unknown setting${suggest(name, new Set(byEnv.keys()))}`);
    if (!keys.includes(key)) continue;
    merged[key] = value;
    origin.set(key, name);
  }

  const result = schema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const where = origin.get(key) ?? envNameFor(key);
    const rest = issue.path.slice(1).join('.');
    const got = key in merged ? `, got ${JSON.stringify(merged[key])?.slice(0, 80)}` : ' (it is required)';
    // An endpoint is a URL too: one refused for the credentials in it must not print them.
    const secretish = /token|url|password|endpoint/i.test(key);
    throw new ConfigError(`${where}${rest ? `.${rest}` : ''}: ${issue.message}${secretish ? '' : got}`);
  }
  return result.data;
}

function suggest(name: string, candidates: Set<string>): string {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const d = distance(name.toLowerCase(), c.toLowerCase());
    if (d < bestScore) {
      bestScore = d;
      best = c;
    }
  }
  return best && bestScore <= 3 ? ` (did you mean "${best}"?)` : '';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
