// TaskLauncher.start, the one place task processes are spawned (light tasks and job steps): its own
// process group, params in the environment and on stdin, the group recorded in TaskGroups until the
// caller releases it, and params too large for execve refused as the caller's fault.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { currentAccount } from '../../src/agent/tasks/task-account.js';
import { createTaskGroups } from '../../src/agent/tasks/task-groups.js';
import { createTaskLauncher } from '../../src/agent/tasks/task-launcher.js';

const tasksDir = mkdtempSync(join(tmpdir(), 'httpagent-launcher-start-'));
afterAll(() => rmSync(tasksDir, { recursive: true, force: true }));
// Prints what reached it through its environment and its stdin, and the process group it leads.
writeFileSync(join(tasksDir, 'show'), '#!/bin/sh\necho "pgid=$(ps -o pgid= $$ | tr -d \' \') pid=$$ v=$HTTPAGENT_PARAM_V"\ncat\n', { mode: 0o755 });

describe('starting a task (the one place task processes are spawned)', () => {
  const exited = (child: ChildProcess) => new Promise<number | null>((r) => child.once('close', (code) => r(code)));

  it('spawns it leading its own process group, params in env and on stdin, and records the group until released', async () => {
    const groups = createTaskGroups();
    const me = currentAccount();
    const launcher = createTaskLauncher({ tasksDir, account: me, rootAccount: me.uid === 0 ? me : undefined, hostEnv: process.env, groups });
    const { child, release } = launcher.start('show', { v: 'x y' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect(groups.size).toBe(1);
    expect(await exited(child)).toBe(0);
    expect(out).toBe(`pgid=${child.pid} pid=${child.pid} v=x y\n{"v":"x y"}`);
    expect(groups.size).toBe(1); // a group may outlive its leader: held until the caller is done with it
    release();
    expect(groups.size).toBe(0);
  });

  it('turns params too large for execve into a 400 before anything runs', () => {
    const groups = createTaskGroups();
    const launcher = createTaskLauncher({ tasksDir, account: currentAccount(), hostEnv: process.env, groups });
    const params = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`P${i}`, 'x'.repeat(65_536)]));
    expect(() => launcher.start('show', params)).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', message: expect.stringContaining('E2BIG') }));
    expect(groups.size).toBe(0);
  });
});
