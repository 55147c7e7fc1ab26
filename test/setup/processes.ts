// Loaded into every test file (vitest.config.ts setupFiles). Records every child a test worker spawns,
// tags it so its descendants can be found, and after each file checks that nothing it started is still
// running: a leak fails the file, naming the processes, and is ended so the next file starts clean.
// It runs after the file's own afterAll hooks (hooks run in stack order), also when one of them timed
// out; a process.on('exit') backstop ends whatever a still-running timed-out test started afterwards.
import { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeEach, expect } from 'vitest';
import { describeProcesses, endOwnedProcesses, killOwnedProcessesNow, ownedAfter, recordSpawn, spawnLog, tagEnvPairs } from '../helpers/process-registry.js';

type SpawnOptions = { file?: string; args?: string[]; envPairs?: string[]; detached?: boolean };
const hooked = Symbol.for('httpagent.test.spawnHook');
const proto = ChildProcess.prototype as unknown as { spawn: (o: SpawnOptions) => unknown; [hooked]?: boolean };
if (!proto[hooked]) {
  const original = proto.spawn;
  proto.spawn = function (this: ChildProcess, options: SpawnOptions) {
    tagEnvPairs(options?.envPairs);
    const result = original.call(this, options);
    recordSpawn(this.pid, options?.detached === true, (options?.args ?? [options?.file ?? '?']).join(' '));
    return result;
  };
  proto[hooked] = true;
  process.once('exit', killOwnedProcessesNow);
}

const testFile = () => expect.getState().testPath ?? '';
const isUnit = () => /[/\\]test[/\\]unit[/\\]/.test(testFile());

// Unit tests are pure: a child process there belongs in test/integration.
let mark = 0;
beforeEach(() => {
  mark = spawnLog.length;
});
afterEach(() => {
  const fresh = spawnLog.slice(mark);
  if (isUnit() && fresh.length > 0) {
    throw new Error(`a unit test spawned ${fresh.length} process(es); move it to test/integration:\n${fresh.map((s) => `  ${s.cmd}`).join('\n')}`);
  }
});

// Processes that are on their way out (a task tree after its agent's kill -9, a supervisord shutting
// down) get a few seconds; anything still there after that is a leak.
afterAll(async () => {
  const left = await ownedAfter(5000);
  if (left.length === 0) return;
  const listing = describeProcesses(left);
  await endOwnedProcesses();
  throw new Error(`${testFile()} left ${left.length} process(es) running (now killed):\n${listing}`);
}, 30_000);
