// scripts/tasks.yaml describes every shipped task and nothing else, and the sh scripts stay
// shellcheck-clean (when shellcheck is installed: it is a Debian package, not an npm one).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadTaskManifest } from '../../src/shared/config/task-manifest.js';
import { scriptsDir } from '../helpers/task-scripts.js';

const executable = (f: string) => {
  try {
    accessSync(join(scriptsDir, f), constants.X_OK);
    return statSync(join(scriptsDir, f)).isFile();
  } catch {
    return false;
  }
};
const tasks = readdirSync(scriptsDir).filter(executable).sort();
const haveShellcheck = execFileSync('sh', ['-c', 'command -v shellcheck || true']).toString() !== '';

describe('scripts/tasks.yaml', () => {
  const manifest = parse(readFileSync(join(scriptsDir, 'tasks.yaml'), 'utf8')) as { version: number; tasks: Record<string, { runAs: string; env: Record<string, string> }> };

  it('is what the agent loads: its schema (unknown keys refused) takes the file as shipped', () => {
    expect(loadTaskManifest(scriptsDir).manifest.tasks).toEqual(manifest.tasks);
  });

  it('lists exactly the executables in scripts/', () => {
    expect(Object.keys(manifest.tasks).sort()).toEqual(tasks);
  });

  it('gives each task runAs task|root and an env map of strings; init and recycle run as root', () => {
    for (const [name, t] of Object.entries(manifest.tasks)) {
      expect(['task', 'root'], name).toContain(t.runAs);
      for (const v of Object.values(t.env)) expect(typeof v, name).toBe('string');
    }
    expect(manifest.tasks.init?.runAs).toBe('root');
    expect(manifest.tasks.recycle?.runAs).toBe('root');
  });

  it('names, for each task, the settings its script reads', () => {
    for (const [name, t] of Object.entries(manifest.tasks)) {
      let text = readFileSync(join(scriptsDir, name), 'utf8');
      for (const lib of text.match(/lib[a-z-]*\.sh/g) ?? []) text += readFileSync(join(scriptsDir, lib), 'utf8');
      for (const setting of ['SERVICE_ROOTS', 'ARTIFACT_ROOTS', 'LOG_ROOTS', 'UPLOAD_URLS', 'UPLOAD_STATE_DIR']) {
        if (new RegExp(`\\b${setting}\\b`).test(text.replace(/^#.*$/gm, ''))) expect(Object.keys(t.env), `${name} reads ${setting}`).toContain(setting);
      }
    }
  });
});

describe.skipIf(!haveShellcheck)('scripts/*.sh and the sh tasks (skipped without shellcheck installed)', () => {
  it('are shellcheck-clean as POSIX sh', () => {
    const sh = readdirSync(scriptsDir).filter((f) => f.endsWith('.sh') || (executable(f) && readFileSync(join(scriptsDir, f), 'utf8').startsWith('#!/bin/sh')));
    expect(sh.length).toBeGreaterThan(5);
    const r = execFileSync('sh', ['-c', 'shellcheck -s sh -x -P . "$@" 2>&1; echo "exit=$?"', 'sh', ...sh], { cwd: scriptsDir }).toString();
    expect(r).toBe('exit=0\n');
  });
});
