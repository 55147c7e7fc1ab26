// Test helpers for the operations tests: a private supervisord in a temp dir (own config, unix
// socket, pidfile; never the system's), a fake install prefix whose release runs this checkout's
// compiled CLI, and template rendering the way install.sh does it.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { binJs, isAlive, repoRoot } from '../helpers/processes.js';
import { waitUntil } from '../helpers/wait.js';

const run = promisify(execFile);

export function renderTemplate(file: string, vars: Record<string, string>): string {
  // A placeholder left in would start a program that cannot run: say which, rather than wait for it.
  return readFileSync(join(repoRoot, file), 'utf8').replace(/@([A-Z_]+)@/g, (_m, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`${file}: no value for @${name}@`);
    return value;
  });
}

/**
 * A prefix with releases/<name> and `current`, whose dist/src/bin/httpagent.js loads the compiled CLI
 * of this checkout. OPS_TEST_FAKE=agent,monitor in its environment replaces those
 * commands by stand-ins (the fake agent answers /healthz on OPS_TEST_FAKE_AGENT_PORT).
 */
export function makeFakePrefix(prefix: string, name = 'r1'): string {
  const rel = join(prefix, 'releases', name);
  mkdirSync(join(rel, 'dist/src/bin'), { recursive: true });
  mkdirSync(join(rel, 'supervisor'), { recursive: true });
  writeFileSync(join(rel, 'package.json'), JSON.stringify({ name: 'httpagent-test-release', type: 'module' }));
  writeFileSync(
    join(rel, 'dist/src/bin/httpagent.js'),
    `// Test shim: runs the compiled CLI of ${repoRoot}, or a fake agent for supervision tests.
import { createServer } from 'node:http';
const fake = (process.env.OPS_TEST_FAKE ?? '').split(',');
if (fake.includes(process.argv[2])) {
  if (process.argv[2] === 'agent') {
    createServer((req, res) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ status: 'ok', pid: process.pid })); }).listen(Number(process.env.OPS_TEST_FAKE_AGENT_PORT), '127.0.0.1');
  } else {
    setInterval(() => {}, 60_000);
  }
  process.on('SIGTERM', () => process.exit(0));
} else {
  await import(${JSON.stringify(binJs)});
}
`,
  );
  if (!existsSync(join(prefix, 'current'))) symlinkSync(join('releases', name), join(prefix, 'current'));
  return rel;
}

export interface PrivateSupervisord {
  dir: string;
  conf: string;
  /** supervisorctl with this config; resolves with exit code and output, never rejects. */
  ctl(...args: string[]): Promise<{ code: number; out: string }>;
  pid(): number;
  /** The state word of a program (RUNNING, FATAL, ...). */
  state(name: string): Promise<string>;
  start(): Promise<void>;
  shutdown(): Promise<void>;
}

/** A supervisord with its own socket and pidfile in `dir`, including the given program files. */
export async function startSupervisord(dir: string, includes: string[]): Promise<PrivateSupervisord> {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'supervisord.conf');
  const sock = join(dir, 'supervisor.sock');
  writeFileSync(
    conf,
    `[unix_http_server]
file=${sock}
chmod=0700

[supervisord]
pidfile=${join(dir, 'supervisord.pid')}
logfile=${join(dir, 'supervisord.log')}
childlogdir=${dir}
nodaemon=false

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://${sock}

[include]
files = ${includes.join(' ')}
`,
  );
  const ctl = async (...args: string[]) => {
    try {
      const r = await run('supervisorctl', ['-c', conf, ...args]);
      return { code: 0, out: r.stdout + r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, out: (e.stdout ?? '') + (e.stderr ?? '') };
    }
  };
  const pid = () => Number(readFileSync(join(dir, 'supervisord.pid'), 'utf8').trim());
  const sup: PrivateSupervisord = {
    dir,
    conf,
    ctl,
    pid,
    async state(name) {
      const r = await ctl('status', name);
      return r.out.trim().split(/\s+/)[1] ?? '';
    },
    async start() {
      await run('supervisord', ['-c', conf]); // daemonizes; returns once it forked
      await waitUntil('supervisord reachable', async () => (await ctl('status')).code !== 4);
    },
    async shutdown() {
      if ((await ctl('status')).code === 4) return;
      const p = pid();
      await ctl('shutdown');
      await waitUntil('supervisord gone', () => !alive(p));
    },
  };
  await sup.start();
  return sup;
}

/** Running, not a zombie (see isAlive). */
export const alive = isAlive;

/** The last `lines` lines of a file, or a note that it is missing: for failure messages. */
export function fileTail(file: string, lines = 40): string {
  try {
    return `--- ${file} (last ${lines} lines)\n${readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')}`;
  } catch (err) {
    return `--- ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
}

export function writeExecutable(file: string, text: string): void {
  writeFileSync(file, text);
  chmodSync(file, 0o755);
}

export interface PrivateSmtp {
  url: string;
  messages: string[];
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/** A real SMTP server on a free port that keeps every message it receives. */
export async function startSmtp(): Promise<PrivateSmtp> {
  const { SMTPServer } = await import('smtp-server');
  const messages: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, cb) {
      let text = '';
      stream.on('data', (d: Buffer) => (text += d.toString()));
      stream.on('end', () => {
        messages.push(text);
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as { port: number }).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    async waitFor(re, timeoutMs = 30_000) {
      return waitUntil(`a mail matching ${re}`, () => messages.find((m) => re.test(m)), { timeoutMs });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
