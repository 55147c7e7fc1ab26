// The Lua scripts' packaging: file names give command names and key counts (and the generated
// script-names.ts), includes are inlined once, every script states its contract, and every key the
// controller builds shares one hash tag.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expandIncludes, loadScripts, luaDir } from '../../controller/src/commands.js';
import { canonicalSelector, createKeys, queueFor } from '../../controller/src/keys.js';
import { listScriptFiles, parseScriptFileName, renderScriptNames, scriptNamesFile } from '../../controller/src/script-catalog.js';
import { scriptFiles } from '../../controller/src/script-names.js';

describe('script files', () => {
  it('name-N.lua gives a camelCase command and its number of keys', () => {
    expect(parseScriptFileName('append-log-fast-3.lua')).toEqual({ name: 'appendLogFast', file: 'append-log-fast-3.lua', numberOfKeys: 3 });
    expect(parseScriptFileName('claim-5.lua')).toMatchObject({ name: 'claim', numberOfKeys: 5 });
    expect(parseScriptFileName('includes')).toBeUndefined();
    expect(parseScriptFileName('notes.md')).toBeUndefined();
  });

  it('script-names.ts is the one generated from the folder (npm run build regenerates it)', () => {
    expect(readFileSync(scriptNamesFile, 'utf8')).toBe(renderScriptNames());
    expect(Object.keys(scriptFiles).sort()).toEqual(listScriptFiles().map((s) => s.name).sort());
  });

  it('each script opens with its contract and uses exactly the keys it declares', () => {
    const files = readdirSync(luaDir).filter((f) => f.endsWith('.lua'));
    expect(files.length).toBeGreaterThanOrEqual(12);
    for (const file of files) {
      const src = readFileSync(join(luaDir, file), 'utf8');
      const { numberOfKeys } = parseScriptFileName(file)!;
      expect(src.startsWith('--[['), file).toBe(true);
      const header = src.slice(0, src.indexOf(']]'));
      expect(header, file).toMatch(/KEYS\[1\]/);
      expect(header, file).toMatch(/ARGV\[1\]/);
      expect(header, file).toMatch(/Returns/);
      const used = [...src.matchAll(/KEYS\[(\d+)\]/g)].map((m) => Number(m[1]));
      expect(Math.max(...used), file).toBe(numberOfKeys);
    }
  });

  it('inlines each include once, in order, and leaves no directive behind', () => {
    const scripts = loadScripts();
    const claim = scripts.find((s) => s.name === 'claim')!;
    expect(claim.numberOfKeys).toBe(5);
    expect(claim.lua).not.toMatch(/@include/);
    expect(claim.lua.match(/local function nowMs/g)).toHaveLength(1);
    expect(claim.lua.indexOf('local function finishJob')).toBeLessThan(claim.lua.indexOf('local function reapExpired'));
    expect(expandIncludes('--- @include "clock"\n--- @include "clock"\n', luaDir)).toMatch(/already included/);
  });
});

describe('keys', () => {
  it('puts every key under one hash tag so a script\'s keys share a Cluster slot', () => {
    const k = createKeys('httpagent');
    const all = [k.job('j1'), k.log('j1'), k.idem('{weird}'), k.seq, k.selectors, k.leases, k.recent, k.agents, k.agent('a'), k.claimMemo('a', 'c'),
      k.monitorLatest('a'), k.monitorHistory('a'), k.monitorHeartbeat('a'), k.monitorSeen, k.alertState('a')];
    for (const key of all) {
      expect(key.startsWith(k.base)).toBe(true);
      // Redis hashes the first {...} only: user text after it cannot move the key to another slot.
      expect(key.indexOf('{')).toBe(0);
      expect(key.slice(key.indexOf('{'), key.indexOf('}') + 1)).toBe('{httpagent}');
    }
  });

  it('canonical selectors sort keys; the target decides the queue and the wake-up', () => {
    expect(canonicalSelector({ role: 'db', os: 'linux' })).toBe('os=linux,role=db');
    expect(queueFor({ agent: 'a1', labels: { os: 'linux' } })).toEqual({ queue: 'q:agent:a1', selector: '', wake: 'a:a1' });
    expect(queueFor({ labels: { role: 'db', os: 'linux' } })).toEqual({ queue: 'q:sel:os=linux,role=db', selector: 'os=linux,role=db', wake: 'l:os=linux,role=db' });
    expect(queueFor({ labels: {} })).toEqual({ queue: 'q:any', selector: '', wake: '*' });
  });
});
