// Loads the Lua scripts under controller/lua, expands their `--- @include "name"` lines and registers
// each as an ioredis command (EVALSHA, falling back to EVAL after a Redis restart empties its cache).
// A call passes its args as one JSON table and gets the script's reply back decoded and validated.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { listScriptFiles, luaDir } from './script-catalog.js';
import { decodeReply, type ScriptArgs, type ScriptReply } from './script-contracts.js';
import type { ScriptErrorContext } from './script-errors.js';
import { scriptFiles, type ScriptName } from './script-names.js';

export { luaDir };

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

/** One script's text with its includes expanded. */
export function scriptSource(name: ScriptName, dir = luaDir): string {
  return expandIncludes(readFileSync(join(dir, scriptFiles[name].file), 'utf8'), dir);
}

/** Every script, after checking that the folder holds exactly the scripts script-names.ts was generated from. */
export function loadScripts(dir = luaDir): ScriptDef[] {
  const onDisk = listScriptFiles(dir)
    .map((s) => s.file)
    .join(' ');
  const known = Object.values(scriptFiles)
    .map((s) => s.file)
    .sort()
    .join(' ');
  if (onDisk !== known) {
    throw new Error(`the scripts in ${dir} (${onDisk}) are not the ones script-names.ts lists (${known}): run npm run build`);
  }
  return (Object.keys(scriptFiles) as ScriptName[]).map((name) => ({ name, numberOfKeys: scriptFiles[name].numberOfKeys, lua: scriptSource(name, dir) }));
}

export type RedisLike = Redis | Cluster;

type Tuple<N extends number, T extends string[] = []> = T['length'] extends N ? T : Tuple<N, [...T, string]>;
/** A script's KEYS, as many as its file name says. */
export type ScriptKeys<N extends ScriptName> = Tuple<(typeof scriptFiles)[N]['numberOfKeys']>;

export interface ScriptCallOptions extends ScriptErrorContext {
  /** Raw bytes passed as ARGV[2], ARGV[3], ... beside the table. */
  bytes?: readonly Buffer[];
}

/** Runs a registered script; a refusal in its reply is thrown as the error it stands for. */
export type RunScript = <N extends ScriptName>(name: N, keys: ScriptKeys<N>, args: ScriptArgs<N>, opts?: ScriptCallOptions) => Promise<ScriptReply<N>>;

export function defineScripts(redis: RedisLike, defs: ScriptDef[] = loadScripts()): RunScript {
  for (const d of defs) redis.defineCommand(d.name, { numberOfKeys: d.numberOfKeys, lua: d.lua });
  const commands = redis as unknown as Record<ScriptName, (args: unknown[]) => Promise<unknown>>;
  return async (name, scriptKeys, args, opts = {}) => {
    // The type holds the count at compile time; this holds it for a caller that cast its way past it.
    const keys = scriptKeys as readonly string[];
    const want = scriptFiles[name].numberOfKeys;
    if (keys.length !== want) throw new Error(`script ${name} takes ${want} keys, got ${keys.length}`);
    // One array: ioredis spreads it into the command's arguments.
    const raw = await commands[name].call(redis, [...keys, JSON.stringify(args), ...(opts.bytes ?? [])]);
    return decodeReply(name, raw, opts);
  };
}
