// vitest globalSetup: compiles src/ and controller/src into dist/, and the process entries into one file
// each (src/ops/entry-bundle.js), once per run before any test file, and gives the run a scratch
// directory (inject('runDir')) for what test files share, such as the npm cache the agent's real
// release build uses offline (test/helpers/offline-npm.ts).
// Tests start httpagent processes from dist/ (about a second each on a loaded machine, against three
// or more through tsx), so dist must never be older than the source: tsc is incremental
// (dist/.tsbuildinfo) and takes a moment when nothing changed. The dashboard (controller/ui, built by
// Vite into dist/ui) is built when it is missing or older than any of its sources.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { describeProcesses, killNow, runLeftovers } from '../helpers/process-registry.js';

/** Whether dist/ui is missing or older than a file of controller/ui. */
function uiStale(root: string): boolean {
  const built = join(root, 'dist/ui/index.html');
  if (!existsSync(built)) return true;
  const at = statSync(built).mtimeMs;
  return readdirSync(join(root, 'controller/ui'), { recursive: true, withFileTypes: true }).some(
    (e) => e.isFile() && !e.parentPath.includes('node_modules') && statSync(join(e.parentPath, e.name)).mtimeMs > at,
  );
}

export default function setup(project: TestProject): () => void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'pipe' });
    // The process entries as a release has them: one file each, dependencies compiled in.
    execFileSync(process.execPath, [join(root, 'src/ops/entry-bundle.js')], { cwd: root, stdio: 'pipe' });
    if (uiStale(root)) {
      execFileSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', join(root, 'controller/ui/vite.config.ts')], { cwd: root, stdio: 'pipe' });
    }
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`npm run build failed; the tests run the compiled processes from dist/:\n${String(e.stdout ?? '')}${String(e.stderr ?? '')}`);
  }
  const runDir = mkdtempSync(join(tmpdir(), 'httpagent-test-run-'));
  project.provide('runDir', runDir);
  return () => {
    rmSync(runDir, { recursive: true, force: true });
    // The last word on leaks: what a worker that died mid-file (killed, or cut off at teardown) left.
    const left = runLeftovers();
    if (left.length > 0) {
      killNow(left);
      throw new Error(`the test run left ${left.length} process(es) running (now killed):\n${describeProcesses(left)}`);
    }
  };
}
