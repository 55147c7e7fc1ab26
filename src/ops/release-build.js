// How a release is made, for self-update and install.sh alike: the source goes into a hidden staging dir
// beside the releases, COMMIT is written, the build steps run (install with dev dependencies, build,
// drop them), the result must pass its self-test, and only then does it get RELEASE_OK and its name,
// by one rename. A half-built release is never visible under releases/<name>.
//
// Plain JavaScript with node's built-ins only, for the reason given in release-layout.js.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { COMMIT_FILE, RELEASE_OK, releaseEntry, releaseName } from './release-layout.js';

/** @typedef {import('./release-layout.js').ReleaseLayout} ReleaseLayout */
/** @typedef {Record<string, string | undefined>} Env */
/** @typedef {(staging: string) => Promise<void>} Stage Fills the empty staging dir with the source. */

/**
 * Install, build, then drop the dev dependencies the build needed (typescript is one).
 * @type {readonly string[][]}
 */
export const DEFAULT_BUILD_STEPS = [
  ['npm', 'ci', '--no-audit', '--no-fund'],
  ['npm', 'run', 'build', '--if-present'],
  ['npm', 'prune', '--omit=dev', '--no-audit', '--no-fund'],
];

const STEP_TIMEOUT_MS = 15 * 60_000;
const CHECK_TIMEOUT_MS = 60_000;
/**
 * Self-tests of one commit that may run out of time before it counts as failed: a busy host gets the
 * benefit of the doubt, a release that hangs at start does not get built again every tick forever.
 */
const SELF_TEST_TIMEOUTS_ALLOWED = 3;

/**
 * Counts self-test time-outs by commit (in memory: a restart starts afresh) for both update sources.
 * @returns {{ tryAgain(commit: string): boolean }} tryAgain: counts one more; true while under the limit
 */
export function selfTestTimeouts() {
  /** @type {Map<string, number>} */
  const seen = new Map();
  return {
    tryAgain(commit) {
      const n = (seen.get(commit) ?? 0) + 1;
      seen.set(commit, n);
      return n < SELF_TEST_TIMEOUTS_ALLOWED;
    },
  };
}

export class ReleaseBuildError extends Error {
  /**
   * @param {'UPDATE_BUILD_FAILED' | 'UPDATE_SELF_TEST_FAILED'} code
   * @param {string} message
   * @param {string} detail the tail of the failed command's output
   * @param {unknown} [cause]
   * @param {{ timedOut?: boolean }} [more]
   */
  constructor(code, message, detail, cause, more = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ReleaseBuildError';
    /** @readonly */
    this.code = code;
    /** @readonly */
    this.detail = detail;
    /**
     * Killed by its time limit: says the host was too busy, not that the release is bad, so self-update
     * tries it again at the next tick instead of recording it as failed for good.
     * @readonly
     */
    this.timedOut = more.timedOut === true;
  }
}

/**
 * @typedef {object} BuildOptions
 * @property {ReleaseLayout} layout
 * @property {string} name the release's directory name
 * @property {string} commit what COMMIT records
 * @property {Stage} stage
 * @property {readonly string[][]} buildSteps
 * @property {Env} env the whole environment of the steps and the self-test (nothing else is inherited)
 * @property {string | undefined} [configFile] the config the self-test must accept
 * @property {RunAs | undefined} [selfTestAs] who runs the self-test (install.sh as root: the service user)
 * @property {((step: string) => void) | undefined} [onStep] told each step, for the log
 */

/**
 * An identity to run a command as. install.sh builds as root, but the release's own code is first run as
 * the service user that will run it anyway: root never executes code it just built from a checkout, and
 * the self-test probes stateDir with the rights the agent will have.
 * @typedef {object} RunAs
 * @property {number} uid
 * @property {number} gid
 * @property {string} home HOME for the command (root's would be unreadable)
 */

/**
 * Builds releases/<name> and returns its path; throws ReleaseBuildError, leaving nothing behind.
 * @param {BuildOptions} opts
 * @returns {Promise<string>}
 */
export async function buildRelease(opts) {
  const finalDir = join(opts.layout.releasesDir, opts.name);
  const staging = join(opts.layout.releasesDir, `.staging-${opts.name}`);
  mkdirSync(opts.layout.releasesDir, { recursive: true });
  rmSync(staging, { recursive: true, force: true });
  try {
    opts.onStep?.('checkout');
    mkdirSync(staging);
    await opts.stage(staging);
    writeFileSync(join(staging, COMMIT_FILE), `${opts.commit}\n`);

    for (const [cmd, ...args] of opts.buildSteps) {
      if (!cmd) continue;
      const line = [cmd, ...args].join(' ');
      opts.onStep?.(line);
      const r = await run(cmd, args, { cwd: staging, env: opts.env, timeoutMs: STEP_TIMEOUT_MS });
      if (r.code !== 0) throw new ReleaseBuildError('UPDATE_BUILD_FAILED', `${line} exited ${r.code ?? r.signal}`, tail(r.output));
    }

    opts.onStep?.('self-test');
    await selfCheck(staging, opts.env, opts.configFile, opts.selfTestAs);
    writeFileSync(join(staging, RELEASE_OK), '');

    rmSync(finalDir, { recursive: true, force: true });
    renameSync(staging, finalDir);
    return finalDir;
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (err instanceof ReleaseBuildError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new ReleaseBuildError('UPDATE_BUILD_FAILED', `preparing ${opts.name} failed: ${message}`, message, err);
  }
}

/**
 * `agent --self-test` proves the code loads (it imports the agent and everything it uses) and accepts this
 * host's config. One process, not two: each start costs most of a second of CPU, paid by every host of a
 * fleet at each update.
 * @param {string} releaseDir
 * @param {Env} env
 * @param {string | undefined} [configFile]
 * @param {RunAs | undefined} [as]
 * @param {number} [timeoutMs] the limit; tests shorten it
 * @returns {Promise<void>}
 */
export async function selfCheck(releaseDir, env, configFile, as, timeoutMs = CHECK_TIMEOUT_MS) {
  const entry = releaseEntry(releaseDir);
  const runs = [['agent', '--self-test', ...(configFile ? ['--config', configFile] : [])]];
  const checkEnv = as ? { ...env, HOME: as.home } : env;
  for (const args of runs) {
    const started = Date.now();
    const r = await run(process.execPath, [entry, ...args], { cwd: releaseDir, env: checkEnv, timeoutMs, as });
    // At 50 agents starting on 2 cores, loading the release alone took over a minute: a SIGKILL at the
    // limit is the host's load, not a verdict on the release (which was then refused for good).
    const timedOut = r.code === null && r.signal === 'SIGKILL' && Date.now() - started >= timeoutMs;
    if (timedOut) throw new ReleaseBuildError('UPDATE_SELF_TEST_FAILED', `httpagent ${args.join(' ')} did not finish in ${timeoutMs / 1000} s (the host is busy?)`, tail(r.output), undefined, { timedOut: true });
    if (r.code !== 0) throw new ReleaseBuildError('UPDATE_SELF_TEST_FAILED', `httpagent ${args.join(' ')} exited ${r.code ?? r.signal}`, tail(r.output));
  }
}

/**
 * The committed files of `commit` in a git repository (a bare cache or a checkout), as `git archive`
 * gives them: no .git, nothing uncommitted.
 * @param {string} repo
 * @param {string} commit
 * @returns {Stage}
 */
export function stageGitCommit(repo, commit) {
  return async (staging) => {
    // git archive's default tar.umask (0002) would leave every directory group-writable, and tar run as
    // root keeps the modes it is given: a release install.sh then refuses as not built by root alone.
    const git = spawn('git', ['-c', 'tar.umask=0022', '-C', repo, 'archive', '--format=tar', commit], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', staging], { stdio: ['pipe', 'ignore', 'pipe'] });
    // A tar that died early closes the pipe: git's EPIPE is reported through the exit codes below.
    tar.stdin.on('error', () => undefined);
    git.stdout.pipe(tar.stdin);
    const [g, t] = await Promise.all([ended(git, 'skip'), ended(tar)]);
    if (g.code !== 0 || t.code !== 0) throw new Error(`git archive ${commit} | tar -x failed: ${(g.output + t.output).trim()}`);
  };
}

/** What a source tree's release leaves out: build output, dependencies and local state, at its top. */
const NOT_SOURCE = new Set(['node_modules', 'dist', '.git', 'var', 'coverage']);

/**
 * The files of a source tree that is not a git checkout, without NOT_SOURCE.
 * @param {string} source
 * @returns {Stage}
 */
export function stageTree(source) {
  return async (staging) => {
    cpSync(source, staging, { recursive: true, verbatimSymlinks: true, filter: (from) => isSource(source, from) });
  };
}

/**
 * What install.sh installs from a source directory. A git checkout is its HEAD commit, named and staged as
 * self-update would (committed files only); anything else is `<version>-<hash of its files>`, so a changed
 * file makes a new release and an unchanged tree is found already built.
 * @param {string} source
 * @param {{ git?: boolean }} [opts] git: false treats a checkout as a plain tree
 * @returns {Promise<{ name: string, commit: string | undefined, stage: Stage }>}
 */
export async function sourceRelease(source, opts = {}) {
  source = resolve(source);
  const commit = opts.git === false ? undefined : await checkoutHead(source);
  if (commit) return { name: releaseName(commit), commit, stage: stageGitCommit(source, commit) };
  /** @type {{ version?: unknown }} */
  const pkg = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8'));
  const version = typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  return { name: `${version}-${treeHash(source).slice(0, 12)}`, commit: undefined, stage: stageTree(source) };
}

/**
 * HEAD of `source` when it is the top of a git work tree (not merely inside one), else undefined.
 * @param {string} source
 * @returns {Promise<string | undefined>}
 */
async function checkoutHead(source) {
  const top = await ended(spawn('git', ['-C', source, 'rev-parse', '--show-toplevel'], { stdio: ['ignore', 'pipe', 'pipe'] }), 'keep');
  if (top.code !== 0 || realpathSync(top.stdout.trim()) !== realpathSync(source)) return undefined;
  const head = await ended(spawn('git', ['-C', source, 'rev-parse', '--verify', '-q', 'HEAD'], { stdio: ['ignore', 'pipe', 'pipe'] }), 'keep');
  return head.code === 0 ? head.stdout.trim() || undefined : undefined;
}

/**
 * @param {string} root
 * @param {string} path
 * @returns {boolean}
 */
function isSource(root, path) {
  const rel = path.slice(root.length + 1);
  return !NOT_SOURCE.has(rel.split('/')[0] ?? '');
}

/**
 * A hash of every path, type, mode and content under `root` that stageTree copies, in a fixed order.
 * @param {string} root
 * @returns {string}
 */
function treeHash(root) {
  const hash = createHash('sha256');
  /** @param {string} dir */
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (!isSource(root, path)) continue;
      const st = lstatSync(path);
      const rel = path.slice(root.length + 1);
      if (st.isDirectory()) {
        hash.update(`d ${rel}\0`);
        walk(path);
      } else if (st.isSymbolicLink()) {
        hash.update(`l ${rel}\0${readlinkSync(path)}\0`);
      } else if (st.isFile()) {
        hash.update(`f ${rel} ${(st.mode & 0o111) !== 0 ? 'x' : '-'} ${st.size}\0`);
        hash.update(readFileSync(path));
      }
    }
  };
  walk(root);
  return hash.digest('hex');
}

/**
 * @typedef {object} RunResult
 * @property {number | null} code
 * @property {string | null} signal
 * @property {string} output stdout and stderr as they came, only the end kept
 */

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ cwd: string, env: Env, timeoutMs: number, as?: RunAs | undefined }} opts
 * @returns {Promise<RunResult>}
 */
async function run(cmd, args, opts) {
  // With uid/gid libuv also drops the supplementary groups (setgroups(0)), so none of root's stay.
  const ids = opts.as ? { uid: opts.as.uid, gid: opts.as.gid } : {};
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs, killSignal: 'SIGKILL', ...ids });
  return ended(child);
}

const KEEP_OUTPUT = 64 * 1024;

/**
 * Waits for a child to exit, collecting its output (the last KEEP_OUTPUT characters, both streams
 * interleaved). A spawn failure (ENOENT) is an exit with code null and the reason as output.
 * @param {import('node:child_process').ChildProcess} child
 * @param {'merge' | 'keep' | 'skip'} [stdoutMode] merge: into output · keep: apart and whole (a
 *   command whose answer is its stdout) · skip: not read here (piped elsewhere)
 * @returns {Promise<RunResult & { stdout: string }>}
 */
function ended(child, stdoutMode = 'merge') {
  let output = '';
  let stdout = '';
  /** @param {Buffer} chunk */
  const add = (chunk) => {
    output = (output + chunk.toString()).slice(-KEEP_OUTPUT);
  };
  if (stdoutMode === 'keep') child.stdout?.on('data', (/** @type {Buffer} */ c) => (stdout += c.toString()));
  else if (stdoutMode === 'merge') child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return new Promise((resolve) => {
    child.once('error', (err) => resolve({ code: null, signal: null, output: `${output}${err.message}\n`, stdout }));
    child.once('close', (code, signal) => resolve({ code, signal, output, stdout }));
  });
}

/**
 * @param {string} text
 * @param {number} [max]
 * @returns {string}
 */
function tail(text, max = 2000) {
  return text.length > max ? `…${text.slice(-max)}` : text;
}
