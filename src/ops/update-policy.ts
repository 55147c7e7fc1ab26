// What a fetched head must satisfy before self-update builds it: signed by a key the operator listed
// (git's own SSH signature check against updateAllowedSigners), and not older than what runs (its
// package.json version, and not an ancestor of the running commit: a force-push that rewinds).
import { accessSync, constants, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { HttpAgentError } from '../shared/errors.js';

export interface Refusal {
  code: 'UPDATE_UNSIGNED' | 'UPDATE_DOWNGRADE';
  detail: string;
}

export interface PolicyInput {
  /** The bare cache repo the head was fetched into. */
  cacheDir: string;
  head: string;
  /** The running release's commit (may be absent from the cache) and directory (its package.json). */
  running: string | undefined;
  runningDir: string;
  allowedSigners: string | undefined;
  allowDowngrade: boolean;
}

const GIT_TIMEOUT_MS = 60_000;
/** package.json of a release is a few KiB; a head whose file is larger is not ours. */
const PACKAGE_JSON_MAX = 1024 * 1024;

/** Runs git in the cache with the settings pinned here, never a signature program from someone's config. */
function git(cacheDir: string, args: string[]) {
  return execa('git', ['-C', cacheDir, '-c', 'gpg.ssh.program=ssh-keygen', ...args], {
    reject: false,
    all: true,
    timeout: GIT_TIMEOUT_MS,
    maxBuffer: PACKAGE_JSON_MAX,
    stdin: 'ignore',
  });
}

/**
 * Undefined when `head` may be built; else why not. Throws (a retryable check failure, not a verdict on
 * the commit) when the signers file cannot be read, so fixing the file lets the same commit through.
 */
export async function judgeHead(input: PolicyInput): Promise<Refusal | undefined> {
  if (input.allowedSigners !== undefined) {
    const refusal = await verifySignature(input.cacheDir, input.head, resolve(input.allowedSigners));
    if (refusal) return refusal;
  }
  if (!input.allowDowngrade) return checkNotOlder(input);
  return undefined;
}

async function verifySignature(cacheDir: string, head: string, signersFile: string): Promise<Refusal | undefined> {
  try {
    accessSync(signersFile, constants.R_OK);
  } catch (err) {
    throw new HttpAgentError('UPDATE_SIGNERS_UNREADABLE', `updateAllowedSigners ${signersFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  // A key outside the file gets "No principal matched" and a non-zero exit; minTrustLevel=fully says the
  // same again, so a git that ever counted an unlisted key's good signature as enough still refuses it.
  const r = await git(cacheDir, [
    '-c', 'gpg.format=ssh',
    '-c', `gpg.ssh.allowedSignersFile=${signersFile}`,
    '-c', 'gpg.minTrustLevel=fully',
    'verify-commit', '--', head,
  ]);
  if (r.exitCode === 0) return undefined;
  const said = (r.all ?? '').trim().slice(-500);
  return { code: 'UPDATE_UNSIGNED', detail: said === '' ? `commit ${head} carries no signature` : `commit ${head}: ${said}` };
}

async function checkNotOlder(input: PolicyInput): Promise<Refusal | undefined> {
  const runningVersion = readVersion(() => readFileSync(join(input.runningDir, 'package.json'), 'utf8'));
  const shown = await git(input.cacheDir, ['show', `${input.head}:package.json`]);
  const headVersion = shown.exitCode === 0 ? readVersion(() => shown.stdout) : undefined;
  if (headVersion === undefined) return { code: 'UPDATE_DOWNGRADE', detail: `commit ${input.head} has no readable package.json version` };
  if (runningVersion !== undefined && compareVersions(headVersion, runningVersion) < 0) {
    return { code: 'UPDATE_DOWNGRADE', detail: `commit ${input.head} is version ${headVersion.text}, older than the running ${runningVersion.text}` };
  }
  if (input.running !== undefined && (await isAncestor(input.cacheDir, input.head, input.running))) {
    return { code: 'UPDATE_DOWNGRADE', detail: `commit ${input.head} is an ancestor of the running ${input.running}: the branch was rewound` };
  }
  return undefined;
}

/** 0: an ancestor · 1: not · 128: the running commit is not in the cache (installed from elsewhere): unknown. */
async function isAncestor(cacheDir: string, head: string, running: string): Promise<boolean> {
  // A ref keeps the running commit in the cache once seen there: a later force-push leaves it unreachable
  // from update-head, and git's gc would otherwise drop it and with it the proof of a rewind.
  await git(cacheDir, ['update-ref', 'refs/heads/update-running', running]);
  const r = await git(cacheDir, ['merge-base', '--is-ancestor', head, running]);
  return r.exitCode === 0;
}

export interface Version {
  text: string;
  core: [number, number, number];
  /** Prerelease identifiers (after '-'); empty for a release. */
  pre: string[];
}

function readVersion(read: () => string): Version | undefined {
  try {
    const v = (JSON.parse(read()) as { version?: unknown }).version;
    return typeof v === 'string' ? parseVersion(v) : undefined;
  } catch {
    return undefined;
  }
}

export function parseVersion(text: string): Version | undefined {
  const m = /^v?(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text.trim());
  if (!m) return undefined;
  return { text: text.trim(), core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

/** Semantic-versioning precedence: negative when a < b. */
export function compareVersions(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a.core[i] !== b.core[i]) return a.core[i]! - b.core[i]!;
  // A prerelease comes before its release.
  if (a.pre.length === 0 || b.pre.length === 0) return (a.pre.length === 0 ? 1 : 0) - (b.pre.length === 0 ? 1 : 0);
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i]!;
    const y = b.pre[i]!;
    if (x === y) continue;
    const nx = /^\d+$/.test(x);
    const ny = /^\d+$/.test(y);
    if (nx && ny) return Number(x) - Number(y);
    if (nx !== ny) return nx ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.pre.length - b.pre.length;
}
