// Loads the Lua scripts under controller/lua, expands their `--- @include "name"` lines and registers
// each as an ioredis command (EVALSHA, falling back to EVAL after a Redis restart empties its cache).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { packageRoot } from '../../src/shared/package-info.js';

export const luaDir = join(packageRoot, 'controller', 'lua');

export type ScriptName =
  | 'enqueue'
  | 'claim'
  | 'heartbeat'
  | 'renew'
  | 'appendLog'
  | 'step'
  | 'completeClaim'
  | 'cancel'
  | 'reap'
  | 'register'
  | 'monitorMetrics'
  | 'monitorHeartbeat';

export interface ScriptDef {
  name: ScriptName;
  numberOfKeys: number;
  lua: string;
}

const INCLUDE = /^--- @include "([a-z0-9-]+)"\s*$/gm;

/** Inlines includes once each, in order of first mention; an include may itself include others. */
export function expandIncludes(source: string, dir: string, seen = new Set<string>()): string {
  return source.replace(INCLUDE, (_line, name: string) => {
    if (seen.has(name)) return `-- (${name} already included)`;
    seen.add(name);
    const text = readFileSync(join(dir, 'includes', `${name}.lua`), 'utf8');
    return expandIncludes(text, dir, seen);
  });
}

/** `append-log-3.lua` → { name: 'appendLog', numberOfKeys: 3 }. */
export function parseScriptFileName(file: string): { name: string; numberOfKeys: number } | undefined {
  const m = /^([a-z-]+)-(\d+)\.lua$/.exec(file);
  if (!m) return undefined;
  const name = m[1]!.replace(/-([a-z])/g, (_s, c: string) => c.toUpperCase());
  return { name, numberOfKeys: Number(m[2]) };
}

export function loadScripts(dir = luaDir): ScriptDef[] {
  const defs: ScriptDef[] = [];
  for (const file of readdirSync(dir).sort()) {
    const parsed = parseScriptFileName(file);
    if (!parsed) continue;
    const lua = expandIncludes(readFileSync(join(dir, file), 'utf8'), dir);
    defs.push({ name: parsed.name as ScriptName, numberOfKeys: parsed.numberOfKeys, lua });
  }
  return defs;
}

export type RedisLike = Redis | Cluster;

/** Runs a registered script: keys then args, passed as one array (a batch can have 100k arguments). */
export type RunScript = (name: ScriptName, keys: string[], args: (string | number | Buffer)[]) => Promise<unknown>;

export function defineScripts(redis: RedisLike, defs: ScriptDef[] = loadScripts()): RunScript {
  const counts = new Map<string, number>();
  for (const d of defs) {
    redis.defineCommand(d.name, { numberOfKeys: d.numberOfKeys, lua: d.lua });
    counts.set(d.name, d.numberOfKeys);
  }
  const commands = redis as unknown as Record<string, (args: unknown[]) => Promise<unknown>>;
  return (name, keys, args) => {
    if (counts.get(name) !== keys.length) {
      throw new Error(`script ${name} takes ${counts.get(name)} keys, got ${keys.length}`);
    }
    return commands[name]!.call(redis, [...keys, ...args]);
  };
}
