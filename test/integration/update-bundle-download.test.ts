// Regression: a bundle download that broke off (a network cut, a stalled S3 store behind the controller)
// was recorded as a refused bundle, so the agent never fetched that release again, though the file on the
// controller was whole. Now a broken-off download is tried again at each tick and alerted about once; a
// bad file (tampered) is still refused for good. A real HTTP server on loopback serves the bundle.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBundleSource, type ReleaseChannel } from '../../src/ops/bundle-source.js';
import { releaseLayout } from '../../src/ops/release-layout.js';
import { readUpdateState, updateStatePath } from '../../src/ops/update-state.js';
import { downloadBundle, DownloadError } from '../../src/shared/bundle/bundle-download.js';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { createLogger } from '../../src/shared/log.js';
import type { LatestReply } from '../../src/shared/protocol/releases.js';

const body = Buffer.alloc(64 * 1024, 7);
const sha256 = createHash('sha256').update(body).digest('hex');
const COMMIT = 'c'.repeat(40);

let dir: string;
let server: Server;
let base: string;
/** How the next download is served: cut after half its bytes, or whole. */
let mode: 'cut' | 'whole' = 'cut';
let downloads = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-bundle-download-'));
  server = createServer((req, res) => {
    downloads++;
    res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': String(body.length) });
    if (mode === 'whole') return res.end(body);
    res.write(body.subarray(0, body.length / 2), () => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('a bundle download that breaks off', () => {
  it('is tried again at each tick, alerted once, and never recorded as refused', async () => {
    const stateDir = join(dir, 'state');
    const config = agentConfigSchema.parse({ agentId: 'download-agent', stateDir, updateSource: 'bundle' });
    const reply: LatestReply = {
      channel: config.updateChannel,
      canary: false,
      release: { version: '9.9.9-cccccccccccc', commit: COMMIT, arch: 'x64', sha256, size: body.length, signed: false, uploadedAt: new Date().toISOString(), path: '/bundle' },
    };
    const channel: ReleaseChannel = {
      latest: async () => reply,
      download: (path, dest, opts) => downloadBundle(`${base}${path}`, dest, opts),
    };
    const alerts: string[] = [];
    const source = createBundleSource(config, {
      logger: createLogger({ level: 'silent' }),
      channel,
      alert: async (subject) => void alerts.push(subject),
      env: {},
      stateFile: updateStatePath(stateDir),
    });
    const layout = releaseLayout(join(dir, 'prefix'));

    for (let tick = 1; tick <= 3; tick++) {
      await expect(source.prepare(layout, 'a'.repeat(40)), `tick ${tick}`).rejects.toBeInstanceOf(DownloadError);
      expect(downloads).toBe(tick);
      expect(readUpdateState(updateStatePath(stateDir)).refusedBundles ?? []).toEqual([]);
    }
    expect(alerts).toEqual([`httpagent download-agent: download of bundle ${reply.release!.version} broke off`]);

    // Whole now: downloaded again and judged as a file. These bytes are no bundle, so that verdict is a
    // refusal, remembered: the next tick does not fetch it again.
    mode = 'whole';
    const judged = await source.prepare(layout, 'a'.repeat(40));
    expect(downloads).toBe(4);
    expect(judged.kind).toBe('refused');
    expect(readUpdateState(updateStatePath(stateDir)).refusedBundles?.map((r) => r.sha256)).toEqual([sha256]);
    expect((await source.prepare(layout, 'a'.repeat(40))).kind).toBe('known-bad');
    expect(downloads).toBe(4);
  });
});
