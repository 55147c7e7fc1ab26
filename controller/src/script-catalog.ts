// The set of Lua scripts is the folder: `controller/lua/<name>-<numKeys>.lua`. This module reads it and
// renders `script-names.ts` from it, so a script added to the folder is never missing from ScriptName.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/shared/package-info.js';

export const luaDir = join(packageRoot, 'controller', 'lua');
export const scriptNamesFile = join(packageRoot, 'controller', 'src', 'script-names.ts');

export interface ScriptFile {
  /** The command name ioredis registers: `append-log-fast` → `appendLogFast`. */
  name: string;
  file: string;
  numberOfKeys: number;
}

/** `append-log-3.lua` → { name: 'appendLog', file, numberOfKeys: 3 }; anything else → undefined. */
export function parseScriptFileName(file: string): ScriptFile | undefined {
  const m = /^([a-z]+(?:-[a-z]+)*)-(\d+)\.lua$/.exec(file);
  if (!m) return undefined;
  const name = m[1]!.replace(/-([a-z])/g, (_s, c: string) => c.toUpperCase());
  return { name, file, numberOfKeys: Number(m[2]) };
}

/** Every script in the folder, by file name (includes/ and other files are not scripts). */
export function listScriptFiles(dir = luaDir): ScriptFile[] {
  return readdirSync(dir)
    .sort()
    .flatMap((f) => parseScriptFileName(f) ?? []);
}

/** The text of script-names.ts for the scripts in `dir`. */
export function renderScriptNames(dir = luaDir): string {
  const rows = listScriptFiles(dir).map((s) => `  ${s.name}: { file: '${s.file}', numberOfKeys: ${s.numberOfKeys} },`);
  return [
    '// GENERATED from the files in controller/lua by controller/tools/generate-script-names.ts (run by',
    '// `npm run build`); do not edit. test/unit/controller-scripts.test.ts fails when it is out of date.',
    '',
    'export const scriptFiles = {',
    ...rows,
    '} as const;',
    '',
    'export type ScriptName = keyof typeof scriptFiles;',
    '',
  ].join('\n');
}
