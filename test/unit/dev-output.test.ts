// What npm start prints of its children's logs: readable, prefixed and coloured on a terminal (pino-pretty),
// untouched JSON in a pipe. Regression: raw JSON from three processes interleaved on a terminal.
import type { ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createDevOutput } from '../../src/bin/dev-output.js';

function screen(tty: boolean) {
  let text = '';
  const out = { isTTY: tty, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  return { out, text: () => text };
}

function child() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  return { proc: { stdout, stderr } as unknown as ChildProcess, stdout, stderr };
}

const LINE = JSON.stringify({ level: 30, time: '2026-01-01T10:00:00.000Z', name: 'controller', pid: 1, url: 'http://127.0.0.1:9890', msg: 'controller listening' });

async function flush() {
  await new Promise((r) => setImmediate(r));
}

describe('npm start output', () => {
  it('on a terminal: pino lines made readable behind a coloured [name] prefix, other lines kept', async () => {
    const s = screen(true);
    const o = await createDevOutput(s.out, { TERM: 'xterm' });
    const c = child();
    const seen: string[] = [];
    o.attach('controller', c.proc, (l) => seen.push(l));
    c.stdout.write(`${LINE}\n`);
    c.stderr.write('plain text from stderr\n');
    await flush();
    const lines = s.text().split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\x1b\[35m\[controller\] *\x1b\[39m .*controller listening/);
    expect(lines[0]).not.toContain('{"level"');
    expect(lines[1]).toMatch(/\[controller\].* plain text from stderr$/);
    // The raw lines still reach whoever watches for readiness.
    expect(seen).toEqual([LINE, 'plain text from stderr']);
    expect(o.tail('controller')).toEqual(seen);
  });

  it('NO_COLOR keeps the prefix and drops the colour', async () => {
    const s = screen(true);
    const o = await createDevOutput(s.out, { TERM: 'xterm', NO_COLOR: '1' });
    const c = child();
    o.attach('agent', c.proc);
    c.stdout.write(`${LINE}\n`);
    await flush();
    expect(s.text()).toMatch(/^\[agent\] +\[\d\d:\d\d:\d\d\.\d{3}\] INFO: controller listening {"url":"http:\/\/127\.0\.0\.1:9890"}\n$/);
    expect(s.text()).not.toMatch(/\x1b\[/);
  });

  it('in a pipe: the JSON lines as they came, a line split across chunks joined', async () => {
    const s = screen(false);
    const o = await createDevOutput(s.out, {});
    const c = child();
    o.attach('monitor', c.proc);
    c.stdout.write(LINE.slice(0, 20));
    c.stdout.write(`${LINE.slice(20)}\n`);
    await flush();
    expect(s.text()).toBe(`${LINE}\n`);
  });
});
