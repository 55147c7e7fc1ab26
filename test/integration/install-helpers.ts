// Helpers for the install.sh tests: a small source tree with the release layout whose entry point stands
// in for the agent (npm ci/build/prune run for real in seconds), install.sh run as a child process, and
// a snapshot of a tree (type, owner, mode, content hash, link target) that "changed nothing" compares.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { offlineNpmEnv } from '../helpers/offline-npm.js';
import { repoRoot } from '../helpers/processes.js';

export interface StubOptions {
  /** The build fails (a type error), so no release is made. */
  buildOk?: boolean;
  /** Every run of the stub appends `<uid> <argv...>` here (the file must be writable by everyone). */
  runLog: string;
  /** The enrollment token the stub's controller accepts (it keeps only a hash); others exit 4 like a 401. */
  enrollToken: string;
}

/**
 * The agent entry (dist/src/bin/httpagent.js of the release), speaking the commands install.sh and
 * supervisord use, against the identity contract: `agent --self-test`; `agent`, which without a
 * credential enrolls with the token in enrollTokenFile (its "controller" keeps only a hash; a wrong token
 * exits 3 like a refused enrollment), writes <stateDir>/credential 0600, deletes the token file, records
 * update/running.json and serves the public /healthz on `listen` (it exits at once when the release
 * holds a CRASH file); `monitor`; `supervisor-listener`.
 */
function stubEntry(o: StubOptions): string {
  return `import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const argv = process.argv.slice(2);
try { appendFileSync(${JSON.stringify(o.runLog)}, process.getuid() + ' ' + argv.join(' ') + '\\n'); } catch {}
const opt = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const config = () => {
  const c = {};
  for (const line of readFileSync(opt('--config'), 'utf8').split('\\n')) {
    const m = /^([A-Za-z]+): (.*)$/.exec(line);
    if (m) c[m[1]] = JSON.parse(m[2]);
  }
  return c;
};
const [cmd] = argv;
if (cmd === '--version') { console.log('9.9.9'); process.exit(0); }
if (cmd === 'agent' && argv.includes('--self-test')) {
  const c = config();
  if (!c.controllerUrl || !c.stateDir || !c.enrollTokenFile || 'agentToken' in c || 'platformToken' in c) { console.error('self-test: bad config'); process.exit(1); }
  const probe = join(c.stateDir, '.self-test-' + process.pid);
  writeFileSync(probe, 'ok');
  rmSync(probe);
  process.exit(0);
}
if (cmd === 'agent') {
  if (existsSync(join(root, 'CRASH'))) { console.error('crashing at start, as this release was made to'); process.exit(1); }
  const c = config();
  const credential = join(c.stateDir, 'credential');
  if (!existsSync(credential)) {
    let token = '';
    try { token = readFileSync(c.enrollTokenFile, 'utf8').trim(); } catch {}
    if (createHash('sha256').update(token).digest('hex') !== ${JSON.stringify(createHash('sha256').update(o.enrollToken).digest('hex'))}) { console.error('enrollment refused: 401 UNAUTHORIZED (check enrollTokenFile)'); process.exit(3); }
    writeFileSync(credential, 'ha1:' + c.agentId + ':' + 'A'.repeat(43) + '\\n', { mode: 0o600 });
    rmSync(c.enrollTokenFile, { force: true });
  }
  const i = c.listen.lastIndexOf(':');
  const commit = readFileSync(join(root, 'COMMIT'), 'utf8').trim();
  createServer((_req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ ok: true, state: 'online' })); })
    .listen(Number(c.listen.slice(i + 1)), '127.0.0.1', () => {
      mkdirSync(join(c.stateDir, 'update'), { recursive: true });
      writeFileSync(join(c.stateDir, 'update', 'running.json'), JSON.stringify({ pid: process.pid, commit, startedAt: new Date().toISOString() }) + '\\n');
    });
  process.on('SIGTERM', () => process.exit(0));
} else if (cmd === 'monitor') {
  setInterval(() => {}, 60_000);
  process.on('SIGTERM', () => process.exit(0));
} else if (cmd === 'supervisor-listener') {
  process.stdout.write('READY\\n');
  process.stdin.on('data', () => process.stdout.write('RESULT 2\\nOKREADY\\n'));
} else {
  process.exit(2);
}
`;
}

/** A source tree install.sh builds for real (npm ci with an empty lock, a build that copies the entry). */
export function makeStubSource(root: string, o: StubOptions): void {
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'httpagent', version: '9.9.9', type: 'module', scripts: { build: 'node build.mjs' } }));
  writeFileSync(join(root, 'package-lock.json'), JSON.stringify({ name: 'httpagent', version: '9.9.9', lockfileVersion: 3, requires: true, packages: { '': { name: 'httpagent', version: '9.9.9' } } }));
  writeFileSync(
    join(root, 'build.mjs'),
    o.buildOk === false
      ? "console.error('type error in src/agent.ts'); process.exit(2);\n"
      : "import { mkdirSync, copyFileSync } from 'node:fs';\nmkdirSync('dist/src/bin', { recursive: true });\ncopyFileSync('src/httpagent.js', 'dist/src/bin/httpagent.js');\n",
  );
  writeFileSync(join(root, 'src/httpagent.js'), stubEntry(o));
  mkdirSync(join(root, 'scripts'), { recursive: true });
  cpSync(join(repoRoot, 'supervisor'), join(root, 'supervisor'), { recursive: true });
}

export interface Run {
  code: number;
  out: string;
}

export interface InstallRun {
  args: string[];
  /** Run as this uid/gid (setpriv), e.g. nobody for an install without root. */
  as?: { uid: number; gid: number } | undefined;
  env?: Record<string, string>;
  stdin?: string;
  timeoutMs?: number;
}

/** Runs ./install.sh of this checkout with a minimal environment; resolves with its exit code and output. */
export function runInstall(r: InstallRun): Promise<Run> {
  const script = join(repoRoot, 'install.sh');
  const [file, argv] = r.as
    ? ['setpriv', [`--reuid=${r.as.uid}`, `--regid=${r.as.gid}`, '--clear-groups', script, ...r.args]]
    : [script, r.args];
  // npm offline (see offline-npm.ts): nothing may reach for a registry.
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...offlineNpmEnv(), ...r.env };
  return new Promise((resolve) => {
    const child = execFile(file, argv as string[], { env, timeout: r.timeoutMs ?? 180_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr });
    });
    child.stdin?.end(r.stdin ?? '');
  });
}

/**
 * Every path under root with its type, owner, mode, and the content hash and mtime of a file or the target
 * of a link: what "the host is as it was" compares. Directory mtimes are left out (adding and removing an
 * entry changes them, and nothing reads them).
 */
export function snapshot(root: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(root)) return out;
  const walk = (p: string) => {
    const key = relative(root, p) || '.';
    if (skip(key)) return;
    const st = lstatSync(p);
    const who = `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`;
    if (st.isSymbolicLink()) out[key] = `link ${st.uid}:${st.gid} ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      out[key] = `dir ${who}`;
      for (const e of readdirSync(p)) walk(join(p, e));
    } else out[key] = `file ${who} ${st.mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  };
  walk(root);
  return out;
}

/** The entries of two snapshots that differ, for a readable failure. */
export function snapshotDiff(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.filter((k) => before[k] !== after[k]).map((k) => `${k}: ${before[k] ?? '(absent)'} -> ${after[k] ?? '(absent)'}`);
}

/** The lines of the stub's run log. */
export function runLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}
