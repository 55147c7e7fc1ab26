// The agent's side of the authorize helper: one child process per target identity, started with that
// uid/gid (when the agent is root), so the kernel's own permission checks bound what a swapped symlink
// in a user's home can reach. Requests to one helper go one at a time; an idle helper is let go.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Readable, Writable } from 'node:stream';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../../shared/log.js';
import { HttpAgentError } from '../../shared/errors.js';
import { packageRoot } from '../../shared/package-info.js';
import { helperReplySchema, type HelperReply, type HelperRequest } from './authorize-helper-protocol.js';
import type { EditStatus } from './authorized-keys-file.js';

/** Who the helper runs as; undefined: as the agent itself (an agent that is not root cannot switch). */
export interface HelperIdentity {
  uid: number;
  gid: number;
}

export interface AuthorizeHelpersOptions {
  logger: Logger;
  /** The helper's argv; defaultHelperCommand() unless a test needs another. */
  command?: readonly string[];
  /** A helper with nothing to do exits after this long (its start-up costs ~50 ms of CPU). */
  idleMs?: number;
  /** A request not answered in this time kills the helper (a hung NFS home, a stopped helper). */
  timeoutMs?: number;
}

export interface AuthorizeHelpers {
  edit(as: HelperIdentity | undefined, op: 'add' | 'remove', home: string, publicKey: string): Promise<EditStatus>;
  /** Ends every helper (stdin closed, then SIGKILL after a grace) and resolves when all have exited. */
  close(): Promise<void>;
}

/**
 * The built entry (dist/src/bin, one file: src/ops/entry-bundle.js), or under tsx (development, tests) the
 * TypeScript source with tsx's loader given by absolute URL: the helper runs with cwd `/`, where `tsx`
 * would not resolve. Found from the package root: bundled, this code does not sit in its source's folder.
 */
export function defaultHelperCommand(): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  if (!fromSource) return [process.execPath, join(packageRoot, 'dist', 'src', 'bin', 'authorize-helper.js')];
  const entry = join(packageRoot, 'src', 'bin', 'authorize-helper.ts');
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return [process.execPath, '--import', pathToFileURL(tsx).href, entry];
}

const failed = (message: string) => new HttpAgentError('AUTHORIZE_FAILED', message);

/** A reply longer than this is not one our helper writes. */
const MAX_REPLY = 8192;
const CLOSE_GRACE_MS = 2000;

type HelperChild = ChildProcessByStdio<Writable, Readable, Readable>;

interface Helper {
  child: HelperChild;
  /** uid it runs as, for messages. */
  uid: number;
  /** The tail of the promise chain that serialises requests to this helper. */
  tail: Promise<unknown>;
  pending: number;
  idle?: NodeJS.Timeout;
  exited: Promise<void>;
}

export function createAuthorizeHelpers(opts: AuthorizeHelpersOptions): AuthorizeHelpers {
  // Resolved on first use: an agent that never authorizes never looks for tsx or the entry.
  let resolved = opts.command;
  const command = () => (resolved ??= defaultHelperCommand());
  const idleMs = opts.idleMs ?? 10_000;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const helpers = new Map<string, Helper>();
  const all = new Set<Helper>();
  let nextId = 0;
  let closed = false;

  function start(key: string, as: HelperIdentity | undefined): Helper {
    const [file, ...args] = command();
    const child = spawn(file!, args, {
      // Nothing of the agent's environment (tokens among it) reaches a process the user can read.
      env: { PATH: '/usr/local/bin:/usr/bin:/bin' },
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe'],
      // libuv also drops supplementary groups (setgroups(0)) when uid/gid are given.
      ...(as ? { uid: as.uid, gid: as.gid } : {}),
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr = (stderr + d).slice(-2000);
    });
    child.stdin.on('error', () => undefined); // EPIPE after the helper died: reported through 'exit'
    const exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        opts.logger.error({ err, key }, 'authorize helper failed to start');
        resolve();
      });
      child.once('exit', (code, signal) => {
        if (code !== 0 || signal) opts.logger.warn({ key, code, signal, stderr: stderr.slice(-500) }, 'authorize helper exited');
        resolve();
      });
    }).then(() => {
      if (helpers.get(key) === helper) helpers.delete(key);
      all.delete(helper);
      if (helper.idle) clearTimeout(helper.idle);
    });
    const helper: Helper = { child, uid: as?.uid ?? process.getuid?.() ?? -1, tail: Promise.resolve(), pending: 0, exited };
    helpers.set(key, helper);
    all.add(helper);
    return helper;
  }

  /** Sends one request and waits for its reply line, the helper's exit, or the timeout. */
  function exchange(helper: Helper, req: HelperRequest): Promise<HelperReply> {
    return new Promise<HelperReply>((resolve, reject) => {
      const { child } = helper;
      let buf = '';
      const done = (err: Error | undefined, reply?: HelperReply) => {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        settled = true;
        if (err) reject(err);
        else resolve(reply!);
      };
      let settled = false;
      const onExit = () => {
        // The usual cause on a new install: the user cannot reach node or the release (e.g. under /root).
        if (!settled) done(failed(`the authorize helper exited before answering; it runs as uid ${helper.uid} and must be able to run ${command()[0]} and read ${command().at(-1)}`));
      };
      const onData = (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl < 0) {
          if (buf.length > MAX_REPLY) {
            child.kill('SIGKILL');
            done(failed('the authorize helper answered garbage'));
          }
          return;
        }
        const parsed = helperReplySchema.safeParse(safeJson(buf.slice(0, nl)));
        if (!parsed.success || parsed.data.id !== req.id || nl !== buf.length - 1) {
          // Not our helper's words (it writes one well-formed line per request): trust nothing more from it.
          child.kill('SIGKILL');
          done(failed('the authorize helper answered garbage'));
          return;
        }
        done(undefined, parsed.data);
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        done(failed(`the authorize helper did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', onData);
      void helper.exited.then(onExit);
      child.stdin.write(JSON.stringify(req) + '\n');
    });
  }

  function release(key: string, helper: Helper): void {
    helper.pending--;
    if (helper.pending > 0 || closed) return;
    helper.idle = setTimeout(() => {
      // Out of the map first: a request arriving now starts a fresh helper instead of racing this exit.
      if (helpers.get(key) === helper) helpers.delete(key);
      helper.child.stdin.end();
    }, idleMs);
    helper.idle.unref();
  }

  return {
    async edit(as, op, home, publicKey) {
      if (closed) throw failed('the agent is shutting down');
      const key = as ? `${as.uid}:${as.gid}` : 'self';
      const helper = helpers.get(key) ?? start(key, as);
      if (helper.idle) clearTimeout(helper.idle);
      helper.pending++;
      const run = helper.tail.then(() => exchange(helper, { id: nextId++, op, home, publicKey }));
      helper.tail = run.catch(() => undefined);
      try {
        const reply = await run;
        if (!reply.ok) throw new HttpAgentError(reply.code, reply.message);
        return reply.status;
      } finally {
        release(key, helper);
      }
    },

    async close() {
      closed = true;
      const waits = [...all].map(async (h) => {
        if (h.idle) clearTimeout(h.idle);
        h.child.stdin.end();
        const grace = setTimeout(() => h.child.kill('SIGKILL'), CLOSE_GRACE_MS);
        await h.exited;
        clearTimeout(grace);
      });
      helpers.clear();
      await Promise.all(waits);
    },
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
