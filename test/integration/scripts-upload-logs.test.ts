// scripts/upload-logs against a real HTTP receiver on 127.0.0.1, run as the agent runs tasks: new whole
// lines go out once, a failed POST keeps the offset, every line arrives exactly once across rename and
// copytruncate rotation, and it reads only files inside LOG_ROOTS and posts only to UPLOAD_URLS.
import { appendFileSync, copyFileSync, mkdirSync, renameSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTask, tempRoot } from '../helpers/task-scripts.js';

interface Upload {
  file: string;
  source: string;
  offset: number;
  lines: string[];
  id: string;
  auth: string | undefined;
}

const t = tempRoot('httpagent-upload-');
const logs = join(t.root, 'srv/app/shared/logs');
const outside = join(t.root, 'outside');
let server: Server;
let base: string;
let url: string;
const received: Upload[] = [];
let answer = 200;

const settings = () => ({ LOG_ROOTS: join(t.root, 'srv'), UPLOAD_URLS: `${base}/ingest`, UPLOAD_STATE_DIR: join(t.root, 'state') });

beforeAll(async () => {
  mkdirSync(logs, { recursive: true });
  mkdirSync(outside, { recursive: true });
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      if (req.url === '/redirect') {
        res.statusCode = 307;
        res.setHeader('location', `${base}/elsewhere`);
      } else if (answer === 200) {
        received.push({ ...(JSON.parse(body) as Upload), id: String(req.headers['x-upload-id']), auth: req.headers.authorization });
      }
      res.statusCode = req.url === '/redirect' ? 307 : answer;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  url = `${base}/ingest`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  t.cleanup();
});

const upload = (files: string, extra: Record<string, string> = {}, env: Record<string, string> = {}) =>
  runTask('upload-logs', { url, files, ...extra }, { ...settings(), ...env });

/** Every line received for `file`, in the order received. */
const linesOf = (file: string) => received.filter((u) => u.file === file).flatMap((u) => u.lines);

describe('scripts/upload-logs', () => {
  const log = join(logs, 'service.log');

  it('sends whole lines once and keeps a partial line for later', async () => {
    writeFileSync(log, 'one\ntwo\nthr');
    expect((await upload(log)).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ file: log, offset: 0, lines: ['one', 'two'] });
    appendFileSync(log, 'ee\nfour\n');
    expect((await upload(log)).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ offset: 8, lines: ['three', 'four'] });
    const n = received.length;
    const r = await upload(log);
    expect(r.out).toMatch(/nothing new/);
    expect(received).toHaveLength(n);
  });

  it('keeps the offset when the receiver fails, and sends the same lines next time', async () => {
    appendFileSync(log, 'five\n');
    answer = 503;
    const failed = await upload(log);
    expect(failed.code).toBe(1);
    answer = 200;
    expect((await upload(log)).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ lines: ['five'] });
  });

  it('rotation by rename loses no line: the rest of the renamed file ("line five") goes first, then the new file', async () => {
    const file = join(logs, 'rename.log');
    writeFileSync(file, 'line one\nline two\nline three\nline four\n');
    expect((await upload(file)).code).toBe(0);
    appendFileSync(file, 'line five\n');
    renameSync(file, `${file}.1`);
    writeFileSync(file, 'line six\n');
    const r = await upload(file);
    expect(r.code, r.out).toBe(0);
    expect(linesOf(file)).toEqual(['line one', 'line two', 'line three', 'line four', 'line five', 'line six']);
    expect(received.find((u) => u.lines.includes('line five'))?.source).toBe(`${file}.1`);
  });

  it('keeps reading a renamed file that its writer appends to until it reopens, and never repeats a line', async () => {
    const file = join(logs, 'rename.log');
    appendFileSync(`${file}.1`, 'late line\n');
    appendFileSync(file, 'line seven\n');
    expect((await upload(file)).code).toBe(0);
    const n = received.length;
    expect((await upload(file)).code).toBe(0);
    expect(received).toHaveLength(n);
    expect(linesOf(file)).toEqual(['line one', 'line two', 'line three', 'line four', 'line five', 'line six', 'late line', 'line seven']);
  });

  it('copytruncate loses no line: the copy is read from the offset, the truncated log from 0', async () => {
    const file = join(logs, 'copy.log');
    writeFileSync(file, 'line one\nline two\nline three\nline four\n');
    expect((await upload(file)).code).toBe(0);
    appendFileSync(file, 'line five\n');
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    appendFileSync(file, 'line six\n');
    const r = await upload(file);
    expect(r.code, r.out).toBe(0);
    expect(linesOf(file)).toEqual(['line one', 'line two', 'line three', 'line four', 'line five', 'line six']);
  });

  it('copytruncate is seen even when the log has grown past the old offset again (by the head of the file)', async () => {
    const file = join(logs, 'copy2.log');
    writeFileSync(file, 'a1\na2\n');
    expect((await upload(file)).code).toBe(0);
    appendFileSync(file, 'a3\n');
    copyFileSync(file, `${file}.1`);
    truncateSync(file, 0);
    appendFileSync(file, 'b1 is a longer line than all before\nb2\n');
    expect((await upload(file)).code).toBe(0);
    expect(linesOf(file)).toEqual(['a1', 'a2', 'a3', 'b1 is a longer line than all before', 'b2']);
  });

  it('sends the bearer token from UPLOAD_TOKEN_FILE and an upload id per (host, file, inode, offset)', async () => {
    const file = join(logs, 'token.log');
    writeFileSync(file, 'x\n');
    const tokenFile = join(t.root, 'token');
    writeFileSync(tokenFile, 'sekret\n');
    expect((await upload(file, {}, { UPLOAD_TOKEN_FILE: tokenFile })).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ auth: 'Bearer sekret' });
    expect(received.at(-1)?.id).toMatch(new RegExp(`:${file}:\\d+:0$`));
  });
});

describe('scripts/upload-logs reads only LOG_ROOTS and posts only to UPLOAD_URLS', () => {
  const log = join(logs, 'service.log');
  const refused = async (r: { code: number | undefined; out: string }, message: string) => {
    const n = received.length;
    expect(r.code, r.out).toBe(2);
    expect(r.out).toContain(message);
    expect(received).toHaveLength(n);
  };

  it('upload-logs files=/etc/passwd (any readable file) is refused', async () => {
    await refused(await upload('/etc/passwd'), 'is not inside LOG_ROOTS');
  });

  it('a symlink inside a log root that leads outside it is refused', async () => {
    writeFileSync(join(outside, 'secret'), 'secret\n');
    symlinkSync(join(outside, 'secret'), join(logs, 'innocent.log'));
    await refused(await upload(join(logs, 'innocent.log')), 'is not inside LOG_ROOTS');
  });

  it('upload-logs url=<any URL> is refused unless it lies under an UPLOAD_URLS prefix', async () => {
    const other = `http://127.0.0.1:1/ingest`;
    await refused(await runTask('upload-logs', { url: other, files: log }, settings()), 'is not under any UPLOAD_URLS prefix');
    await refused(await runTask('upload-logs', { url: `${base}/ingest-evil`, files: log }, settings()), 'is not under any UPLOAD_URLS prefix');
    await refused(await runTask('upload-logs', { url: `${base.replace('//', '//127.0.0.1:80@')}/ingest`, files: log }, settings()), 'is not under any UPLOAD_URLS prefix');
    await refused(await runTask('upload-logs', { url: `https://${base.slice(7)}/ingest`, files: log }, settings()), 'is not under any UPLOAD_URLS prefix');
    appendFileSync(log, 'six\n');
    const r = await runTask('upload-logs', { url: `${base}/ingest/sub`, files: log }, settings());
    expect(r.code, r.out).toBe(0);
    expect(received.at(-1)).toMatchObject({ lines: ['six'] });
  });

  it('a redirect from the receiver is not followed (it could lead anywhere); the offset stays', async () => {
    appendFileSync(log, 'seven\n');
    const n = received.length;
    const r = await runTask('upload-logs', { url: `${base}/redirect`, files: log }, { ...settings(), UPLOAD_URLS: `${base}/` });
    expect(r.code, r.out).toBe(1);
    expect(received).toHaveLength(n);
    expect((await upload(log)).code).toBe(0);
    expect(received.at(-1)).toMatchObject({ lines: ['seven'] });
  });

  it('refuses to run without LOG_ROOTS or UPLOAD_URLS, and takes no state_dir or token_file param', async () => {
    await refused(await upload(log, {}, { LOG_ROOTS: '' }), 'LOG_ROOTS is not set');
    await refused(await upload(log, {}, { UPLOAD_URLS: '' }), 'UPLOAD_URLS is not set');
    await refused(await upload(log, { state_dir: outside }), 'param state_dir is not accepted');
    await refused(await upload(log, { token_file: '/etc/shadow' }), 'param token_file is not accepted');
    await refused(await runTask('upload-logs', { files: log }, settings()), 'param url is required');
  });
});
