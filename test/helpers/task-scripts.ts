// Running the shipped scripts/ the way the agent runs them (the task launcher: own process group, params
// as HTTPAGENT_PARAM_* and JSON on stdin, a clean environment with the settings of scripts/tasks.yaml and
// the operator's over them), as the test's own user, on a real host layout under a temp root; and finding every
// process those scripts left running (services start in sessions of their own) so teardown ends them.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './processes.js';
import { sameUserTasks } from './task-launcher.js';

export const scriptsDir = join(repoRoot, 'scripts');
export const asRoot = process.getuid?.() === 0;
/** The scripts say #!/bin/sh; on Debian that is dash, the shell the tests mean to prove them under. */
export const shIsDash = realpathSync('/bin/sh').endsWith('/dash');

export interface TaskRun {
  code: number | undefined;
  signal: string | undefined;
  out: string;
}

/**
 * Runs one task to its end. `settings` are the operator's (config taskEnv, over tasks.yaml's env);
 * `env` is where PATH and the locale come from (the test's own environment by default).
 */
export async function runTask(task: string, params: Record<string, string>, settings: Record<string, string> = {}, env?: Record<string, string>): Promise<TaskRun> {
  const { child, release } = sameUserTasks(scriptsDir, { taskEnv: settings, hostEnv: env ?? process.env }).start(task, params);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const r = await new Promise<{ code: number | null; signal: string | null }>((resolve, reject) => {
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', reject);
  });
  release();
  return { code: r.code ?? undefined, signal: r.signal ?? undefined, out };
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A private temp root; `cleanup` ends whatever still runs from inside it, then removes it. */
export function tempRoot(prefix: string): { root: string; cleanup(): string[] } {
  const root = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  return {
    root,
    cleanup: () => {
      const left = processesUnder(root);
      for (const p of left) killGroup(p.pgid);
      rmSync(root, { recursive: true, force: true });
      return left.map((p) => `${p.pid} (${p.cwd})`);
    },
  };
}

export interface ProcInfo {
  pid: number;
  pgid: number;
  cwd: string;
}

/** Live processes whose working directory lies under `root`: the services the scripts started. */
export function processesUnder(root: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      if (!cwd.startsWith(`${root}/`)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      out.push({ pid: Number(name), pgid: Number(fields[2]), cwd });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

export function killGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Field 22 of /proc/<pid>/stat: what the scripts record next to a pid. */
export function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

export interface FileServer {
  url: string;
  server: Server;
  /** Path → body, or a handler for dynamic answers. */
  routes: Map<string, Buffer | ((res: import('node:http').ServerResponse) => void)>;
  hits: string[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 that serves artifacts (and whatever else a test routes). */
export async function startFileServer(): Promise<FileServer> {
  const routes: FileServer['routes'] = new Map();
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const route = routes.get(req.url ?? '');
    if (route === undefined) {
      res.statusCode = 404;
      res.end();
    } else if (typeof route === 'function') route(res);
    else res.end(route);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    routes,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
