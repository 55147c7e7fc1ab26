// The dashboard's log model: whole lines across chunk boundaries, line lookup, pages dropped from the
// cache and fetched again by offset, and search across pages.
import { describe, expect, it } from 'vitest';
import { LogModel } from '../../controller/ui/src/log-model.js';
import { parseAnsi, stripAnsi } from '../../controller/ui/src/ansi.js';

const enc = new TextEncoder();

function modelOver(text: string, cacheBytes?: number) {
  const all = enc.encode(text);
  const fetched: number[] = [];
  const model = new LogModel(
    async (offset) => {
      fetched.push(offset);
      return all.subarray(offset, offset + 4 * 1024 * 1024);
    },
    () => {},
    cacheBytes,
  );
  return { model, all, fetched };
}

describe('LogModel', () => {
  it('joins a line split across chunks and counts the unfinished last line', () => {
    const { model } = modelOver('');
    model.ingest(enc.encode('one\ntw'));
    expect(model.lineCount).toBe(2);
    expect(model.line(1)).toBe('tw');
    model.ingest(enc.encode('o\nthree'));
    expect([model.line(0), model.line(1), model.line(2)]).toEqual(['one', 'two', 'three']);
    expect(model.end).toBe(13);
  });

  it('keeps a multi-byte character split between chunks whole', () => {
    const { model } = modelOver('');
    const bytes = enc.encode('héllo\n');
    model.ingest(bytes.subarray(0, 2));
    model.ingest(bytes.subarray(2));
    expect(model.line(0)).toBe('héllo');
  });

  it('drops old pages past its cache and fetches them again by offset, and finds text anywhere', async () => {
    // ~6 MiB of numbered lines through a model that holds 2 MiB of them.
    const line = (i: number) => `line ${String(i).padStart(8, '0')} ${'x'.repeat(80)}\n`;
    const n = 65_000;
    const text = Array.from({ length: n }, (_, i) => line(i)).join('');
    const { model, all, fetched } = modelOver(text, 2 * 1024 * 1024);
    for (let off = 0; off < all.length; off += 1 << 20) model.ingest(all.subarray(off, off + (1 << 20)));
    expect(model.lineCount).toBe(n);
    expect(model.cachedBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
    // The first lines' page was dropped: asked for, it is fetched again at its offset.
    expect(model.line(0)).toBeUndefined();
    await expect.poll(() => model.line(0)).toBe(line(0).trimEnd());
    expect(fetched[0]).toBe(0);
    expect(model.line(n - 1)).toBe(line(n - 1).trimEnd());
    expect(await model.find('line 00000007 ', 0)).toBe(7);
    expect(await model.find('LINE 00060000', 0)).toBe(60_000);
    expect(await model.find('line 00000003 ', 10, true)).toBe(3);
    expect(await model.find('no such text', 0)).toBe(-1);
  });
});

describe('parseAnsi', () => {
  it('turns SGR colours into classes and styles and drops other escapes', () => {
    const runs = parseAnsi('\x1b[1;31merror\x1b[0m: \x1b[38;5;208mwarm\x1b[39m \x1b]0;title\x07\x1b[2Kdone');
    expect(runs.map((r) => r.text).join('')).toBe('error: warm done');
    expect(runs[0]).toMatchObject({ text: 'error', cls: 'fg-9 b' });
    expect(runs.find((r) => r.text === 'warm')?.fg).toMatch(/^rgb\(/);
    expect(stripAnsi('\x1b[32mok\x1b[0m')).toBe('ok');
  });
});
