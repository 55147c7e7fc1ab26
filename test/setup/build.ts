// vitest globalSetup: compiles src/ and controller/src into dist/ once per run, before any test file.
// Tests start httpagent processes from dist/ (about a second each on a loaded machine, against three
// or more through tsx), so dist must never be older than the source: tsc is incremental
// (dist/.tsbuildinfo) and takes a moment when nothing changed.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { cwd: root, stdio: 'pipe' });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`npm run build failed; the tests run the compiled processes from dist/:\n${String(e.stdout ?? '')}${String(e.stderr ?? '')}`);
  }
}
