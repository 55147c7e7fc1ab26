// deleteRoots compiled at start-up: `/` and relative roots are configuration errors; missing roots hold nothing.
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { compileDeleteRoots } from '../../src/agent/tasks/delete-paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-roots-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

it('refuses / and relative roots as CONFIG_INVALID', () => {
  for (const bad of [['/'], ['//'], ['builds'], ['/ok', '/./']]) {
    expect(() => compileDeleteRoots(bad), bad.join(',')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  }
});

it('resolves roots to real paths and skips missing ones, and never lets a root that resolves to / through', () => {
  symlinkSync('/', join(tmp, 'slash'));
  symlinkSync(tmp, join(tmp, 'self'));
  const roots = compileDeleteRoots([join(tmp, 'self'), join(tmp, 'missing'), join(tmp, 'slash')]);
  expect(roots()).toEqual([tmp]);
});
