// The release layout on a real filesystem: the atomic `current` switch, pruning that never removes
// the current or previous release, finding the prefix of a running release, and the guard's URL.
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTokens } from '../../src/ops/supervisor-listener.js';
import { currentRelease, prefixOfRelease, pruneReleases, releaseLayout, switchCurrent } from '../../src/ops/release-layout.js';
import { healthUrl } from '../../src/ops/update-guard.js';
import { readUpdateState, writeUpdateState } from '../../src/ops/update-state.js';

const root = mkdtempSync(join(tmpdir(), 'httpagent-layout-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A prefix of the test's own. */
const prefixDir = () => mkdtempSync(join(root, `p${++n}-`));

function release(dir: string, name: string, ageSec: number): string {
  const p = join(dir, 'releases', name);
  mkdirSync(p, { recursive: true });
  writeFileSync(join(p, 'COMMIT'), `${name}\n`);
  const t = Date.now() / 1000 - ageSec;
  utimesSync(p, t, t);
  return p;
}

describe('release layout', () => {
  it('switches current with a relative link and reads it back', () => {
    const dir = prefixDir();
    const layout = releaseLayout(dir);
    expect(currentRelease(layout)).toBeUndefined();
    const a = release(dir, 'aaa', 50);
    switchCurrent(layout, a);
    expect(readlinkSync(layout.currentLink)).toBe('releases/aaa');
    expect(currentRelease(layout)).toBe(a);
    const b = release(dir, 'bbb', 40);
    switchCurrent(layout, b);
    expect(currentRelease(layout)).toBe(b);
    // No temporary link is left beside it.
    expect(readdirSync(dir).sort()).toEqual(['current', 'releases']);
  });

  it('prunes the oldest releases but never the protected ones', () => {
    const dir = prefixDir();
    const layout = releaseLayout(dir);
    for (const [name, age] of [['aaa', 50], ['bbb', 40], ['c1', 30], ['c2', 20], ['c3', 10], ['c4', 5]] as const) release(dir, name, age);
    const removed = pruneReleases(layout, 2, [join(dir, 'releases/aaa'), join(dir, 'releases/bbb')]);
    expect(removed.sort()).toEqual(['c1', 'c2']);
    expect(readdirSync(join(dir, 'releases')).sort()).toEqual(['aaa', 'bbb', 'c3', 'c4']);
  });

  it('finds the prefix only for code running from releases/<id>', () => {
    expect(prefixOfRelease('/opt/httpagent/releases/abc123')).toBe('/opt/httpagent');
    expect(prefixOfRelease('/work/main')).toBeUndefined();
  });

  it('keeps update state across a damaged file', () => {
    const file = join(prefixDir(), 'state', 'update.json');
    writeUpdateState(file, { confirmed: 'abc' });
    expect(readUpdateState(file)).toEqual({ confirmed: 'abc' });
    writeFileSync(file, '{"failed": 42');
    expect(readUpdateState(file)).toEqual({});
  });
});

describe('small parsers', () => {
  it('turns a listen address into a loopback health URL', () => {
    expect(healthUrl('0.0.0.0:9889')).toBe('http://127.0.0.1:9889/healthz');
    expect(healthUrl('[::]:9889')).toBe('http://[::1]:9889/healthz');
    expect(healthUrl('10.0.0.5:80')).toBe('http://10.0.0.5:80/healthz');
  });

  it('reads supervisord header tokens', () => {
    expect(parseTokens('ver:3.0 server:supervisor serial:21 eventname:PROCESS_STATE_FATAL len:54\n')).toMatchObject({ eventname: 'PROCESS_STATE_FATAL', len: '54' });
  });
});
