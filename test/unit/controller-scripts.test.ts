// The Lua scripts' packaging: file names give command names and key counts (and the generated
// script-names.ts), includes are inlined once, every script states its contract in a header that
// matches the controller's zod schemas, every key a script touches is Cluster-safe, and every key the
// controller builds shares one hash tag.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { expandIncludes, loadScripts, luaDir } from '../../controller/src/commands.js';
import { canonicalSelector, createKeys, queueFor } from '../../controller/src/keys.js';
import { listScriptFiles, parseScriptFileName, renderScriptNames, scriptNamesFile } from '../../controller/src/script-catalog.js';
import { decodeReply, scriptContracts } from '../../controller/src/script-contracts.js';
import { scriptFiles, type ScriptName } from '../../controller/src/script-names.js';
import { compareShapes, parseHeader, shapeOfSchema, type Shape } from '../helpers/lua-header.js';
import { auditKeys, keyIndexesUsed, keyUses } from '../helpers/lua-key-audit.js';

const fixtures = fileURLToPath(new URL('../fixtures/lua-keys/', import.meta.url));
const scripts = listScriptFiles();
const read = (file: string, dir = luaDir) => readFileSync(join(dir, file), 'utf8');

/** Runs the audit on a script file: its header's KEYS, its file name's key count, its includes expanded. */
function audit(file: string, dir = luaDir): string[] {
  const src = read(file, dir);
  return auditKeys(expandIncludes(src, dir), parseHeader(src).keys, parseScriptFileName(file)!.numberOfKeys);
}

describe('script files', () => {
  it('name-N.lua gives a camelCase command and its number of keys', () => {
    expect(parseScriptFileName('append-log-fast-3.lua')).toEqual({ name: 'appendLogFast', file: 'append-log-fast-3.lua', numberOfKeys: 3 });
    expect(parseScriptFileName('claim-5.lua')).toMatchObject({ name: 'claim', numberOfKeys: 5 });
    expect(parseScriptFileName('includes')).toBeUndefined();
    expect(parseScriptFileName('notes.md')).toBeUndefined();
  });

  it('script-names.ts is the one generated from the folder (npm run build regenerates it)', () => {
    expect(readFileSync(scriptNamesFile, 'utf8')).toBe(renderScriptNames());
    expect(Object.keys(scriptFiles).sort()).toEqual(scripts.map((s) => s.name).sort());
    // Every script has its contract: a script added to the folder fails to compile until it has one.
    expect(Object.keys(scriptContracts).sort()).toEqual(Object.keys(scriptFiles).sort());
  });

  it('inlines each include once, in order, and leaves no directive behind', () => {
    const claim = loadScripts().find((s) => s.name === 'claim')!;
    expect(claim.numberOfKeys).toBe(6);
    expect(claim.lua).not.toMatch(/@include/);
    expect(claim.lua.match(/local function nowMs/g)).toHaveLength(1);
    expect(claim.lua.indexOf('local function finishJob')).toBeLessThan(claim.lua.indexOf('local function reapExpired'));
    expect(expandIncludes('--- @include "clock"\n--- @include "clock"\n', luaDir)).toMatch(/already included/);
  });
});

describe('contract headers', () => {
  const headerOf = (file: string) => parseHeader(read(file));
  const replyShape = (file: string): Shape => {
    const shape = headerOf(file).returns;
    if (!shape) throw new Error(`${file} states no reply shape`);
    return shape;
  };

  it.each(scripts)('$file declares each of its KEYS once, in order, and uses every one', ({ file, numberOfKeys }) => {
    const { keys } = headerOf(file);
    expect(keys.map((k) => k.n)).toEqual(Array.from({ length: numberOfKeys }, (_, i) => i + 1));
    expect(keyIndexesUsed(read(file))).toEqual(keys.map((k) => k.n));
  });

  it.each(scripts)('$file decodes one JSON table from ARGV[1]; its header gives that table and its reply the schemas\' shapes', ({ file, name }) => {
    const src = read(file);
    expect(src.match(/cjson\.decode\(ARGV\[1\]\)/g), file).toHaveLength(1);
    // No ARGV[n] walked by offset: only ARGV[1] and raw bytes at an index the table or the header names.
    for (const m of src.slice(src.indexOf(']]')).matchAll(/ARGV\[([^\]]+)\]/g)) expect(['1', '2', 'r.tail.arg'], `${file}: ARGV[${m[1]}]`).toContain(m[1]);
    const header = headerOf(file);
    const contract = scriptContracts[name as ScriptName];
    expect(header.argv, `${file}: ARGV[1] shape`).toBeDefined();
    expect(compareShapes(header.argv!, shapeOfSchema(contract.args), replyShape), `${file}: ARGV[1]`).toEqual([]);
    expect(compareShapes(replyShape(file), shapeOfSchema(contract.reply), replyShape), `${file}: Returns`).toEqual([]);
  });

  it('a header that drifts from its schema is caught', () => {
    const header = parseHeader('--[[\n  KEYS[1] job  the hash\n\n  ARGV[1] {jobId: string, epoch?: int,\n           steps: [{n: int}]}\n\n  Returns {ok: bool}\n]]\n');
    const schema = z.strictObject({ jobId: z.string(), epoch: z.number(), steps: z.array(z.strictObject({ m: z.number() })), extra: z.string() });
    expect(compareShapes(header.argv!, shapeOfSchema(schema), () => ({ kind: 'leaf' })).sort()).toEqual([
      '$.epoch: optional in the header, not in the schema',
      '$.extra: in the schema, not in the header',
      '$.steps[].m: in the schema, not in the header',
      '$.steps[].n: in the header, not in the schema',
    ]);
  });
});

describe('Cluster safety: every key a script touches', () => {
  it.each(scripts)('$file: declared in KEYS or built from a declared prefix under its hash tag', ({ file }) => {
    expect(audit(file)).toEqual([]);
  });

  it('follows keys through locals, parameters and tables to the KEYS they come from', () => {
    const claim = keyUses(loadScripts().find((s) => s.name === 'claim')!.lua);
    const origins = (command: string, expr: string) => claim.filter((u) => u.command === command && u.expr === expr).flatMap((u) => u.origins);
    // The queue keys popped from: built from the prefix (KEYS[1]) in a table constructor and by t[#t + 1] = ...
    expect(origins('ZREM', 'queues [ best ]')).toEqual(
      expect.arrayContaining([
        { kind: 'derived', n: 1, literal: 'q:agent:' },
        { kind: 'derived', n: 1, literal: 'q:any' },
        { kind: 'derived', n: 1, literal: 'q:sel:' },
      ]),
    );
    // finishJob's jobKey parameter: the job key built from the prefix at each call site.
    expect(origins('EXPIRE', 'jobKey')).toContainEqual({ kind: 'derived', n: 1, literal: 'job:' });
    expect(origins('HMGET', 'agentKey')).toEqual([{ kind: 'key', n: 2 }]);
  });

  it.each([
    ['key-from-argv-1.lua', /GET ARGV \[ 1 \]: a key neither in KEYS nor built from a declared prefix/],
    ['key-past-declared-2.lua', /KEYS\[3\] is past the 2 keys the file name declares/],
    ['derived-from-plain-key-2.lua', /built from KEYS\[2\], which the header does not declare a prefix/],
    ['literal-head-1.lua', /HGET key: a key neither in KEYS nor built from a declared prefix \(.* starts with 'job:'\)/],
    ['through-parameter-1.lua', /EXPIRE jobKey: a key neither in KEYS nor built from a declared prefix/],
    ['through-table-1.lua', /DEL queues \[ i \]: a key neither in KEYS nor built from a declared prefix \(ARGV \[ 1 \]\)/],
    ['unlisted-suffix-1.lua', /builds 'secret:…' from KEYS\[1\], which its header line does not mention/],
    ['unknown-command-1.lua', /OBJECT is not in the audit's table of key arguments/],
  ])('fails a broken fixture: %s', (file, problem) => {
    const problems = audit(file, fixtures);
    expect(problems.some((p) => problem.test(p)), problems.join('\n')).toBe(true);
  });
});

describe('replies', () => {
  it('a refusal is thrown as its error; a reply off its schema is INTERNAL, never passed on', () => {
    expect(() => decodeReply('renew', '{"err":"STALE_EPOCH"}', { jobId: 'j1' })).toThrow(expect.objectContaining({ code: 'STALE_EPOCH', statusCode: 409 }));
    expect(() => decodeReply('appendLog', '{"err":"LOG_OFFSET_GAP","expected":7}')).toThrow(expect.objectContaining({ code: 'LOG_OFFSET_GAP', details: { expected: 7 } }));
    expect(() => decodeReply('renew', '{"cancel":false,"more":1}')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => decodeReply('renew', '{"err":"SOMETHING_NEW"}')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(() => decodeReply('claim', '{"now":1,"labels":"not json","leaseMs":5,"jobs":{}}')).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    expect(decodeReply('renew', '{"cancel":true}')).toEqual({ cancel: true });
  });

  it('an empty array, which cjson writes as {}, reads back as []', () => {
    expect(decodeReply('claim', '{"now":1,"labels":"{}","leaseMs":5,"jobs":{}}')).toEqual({ now: 1, labels: {}, leaseMs: 5, jobs: [] });
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
