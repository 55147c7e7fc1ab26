// scripts/upload-logs against a real HTTP receiver: new whole lines go out once, a failed POST keeps
// the offset, a rotated log starts again. Run as the agent runs tasks (startTask: env params, no shell).
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTask } from '../../src/agent/tasks/task-process.js';
import { repoRoot } from '../helpers/processes.js';
import { sameUserTasks } from '../helpers/task-launcher.js';

interface Upload {
  file: string;
  offset: number;
  lines: string[];
}

let dir: string;
let server: Server;
let url: string;
const received: Upload[] = [];
let answer = 200;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-upload-'));
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (answer === 200) received.push(JSON.parse(body) as Upload);
      res.statusCode = answer;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/ingest`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

async function upload(log: string): Promise<{ code: number; out: string }> {
  const p = startTask(sameUserTasks(join(repoRoot, 'scripts')).plan('upload-logs', { url, files: log, state_dir: join(dir, 'offsets') }));
  let out = '';
  p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const r = await p;
  return { code: r.exitCode ?? -1, out };
}

describe('scripts/upload-logs', () => {
  const log = () => join(dir, 'service.log');

  it('sends whole lines once and keeps a partial line for later', async () => {
    writeFileSync(log(), 'one\ntwo\nthr');
    expect((await upload(log())).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ file: log(), offset: 0, lines: ['one', 'two'] });
    appendFileSync(log(), 'ee\nfour\n');
    expect((await upload(log())).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ offset: 8, lines: ['three', 'four'] });
    const n = received.length;
    const r = await upload(log());
    expect(r.out).toMatch(/nothing new/);
    expect(received).toHaveLength(n);
  });

  it('keeps the offset when the receiver fails, and sends the same lines next time', async () => {
    appendFileSync(log(), 'five\n');
    answer = 503;
    const failed = await upload(log());
    expect(failed.code).toBe(1);
    answer = 200;
    expect((await upload(log())).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ lines: ['five'] });
  });

  it('starts a rotated log from its beginning', async () => {
    renameSync(log(), `${log()}.1`);
    writeFileSync(log(), 'after rotation\n');
    expect((await upload(log())).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ offset: 0, lines: ['after rotation'] });
  });

  it('refuses to run without a URL', async () => {
    const p = startTask(sameUserTasks(join(repoRoot, 'scripts')).plan('upload-logs', { files: log() }));
    expect((await p).exitCode).toBe(2);
  });
});
