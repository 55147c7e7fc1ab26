// Where the release channel keeps bundles, with real parts: s3rver (a real S3 server in its own process)
// and real controllers over a private Redis. Bundles go to the bucket (never to Redis, never left on the
// controller's disk) and come back to agents byte for byte through the controller; controllers sharing
// the bucket and the Redis prefix share releases; a refused S3 key is a coded 503 that shows no secret;
// the cleanup (releaseKeep) keeps the newest N and every channel's latest and previous, in S3 and on disk,
// and a version being deleted cannot be uploaded over until its deletion is done.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleName, s3BundleBlobs } from '../../controller/src/bundle-blobs.js';
import { defineScripts } from '../../controller/src/commands.js';
import { createKeys } from '../../controller/src/keys.js';
import { packBundle } from '../../src/ops/bundle-pack.js';
import { createLogger } from '../../src/shared/log.js';
import { syntheticRelease } from '../helpers/bundles.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { S3RVER_KEY, startS3Server, type S3Server } from '../helpers/s3-server.js';
import { call, credentialFor, startController, type Running } from './controller-harness.js';

const BUCKET = 'releases';
let dir: string;
let redis: PrivateRedis;
let s3: S3Server;
const running: Running[] = [];
const bundles: Array<{ version: string; bytes: Buffer; sha256: string }> = [];

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A credentials file as an operator writes it: mode 0600. */
function credentialsFile(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

async function controller(overrides: Record<string, unknown>, logger?: ReturnType<typeof createLogger>): Promise<Running> {
  const c = await startController(redis.url, overrides, logger ? { logger } : {});
  running.push(c);
  return c;
}

/** A controller on the bucket under `s3Prefix`, in the fleet `keyPrefix`. */
function onS3(keyPrefix: string, s3Prefix: string, extra: Record<string, unknown> = {}) {
  return controller({
    keyPrefix,
    releaseS3Endpoint: s3.endpoint,
    releaseS3Bucket: BUCKET,
    releaseS3Prefix: s3Prefix,
    releaseS3CredentialsFile: credentialsFile(`key-${randomBytes(4).toString('hex')}`, JSON.stringify(S3RVER_KEY)),
    ...extra,
  });
}

const put = (c: Running, b: { version: string; bytes: Buffer }, query = '') =>
  call(c.url, 'PUT', `/v1/releases/${b.version}${query}`, { raw: b.bytes, contentType: 'application/gzip' });

/** What an agent gets: the channel's offer, then the bundle's bytes from the path it names. */
async function download(c: Running, agentId: string, channel = 'stable'): Promise<{ version: string; bytes: Buffer; sha256: string | string[] | undefined }> {
  const token = await credentialFor(c.url, agentId);
  const offer = await call(c.url, 'GET', `/v1/agent/releases/latest?channel=${channel}`, { token });
  const res = await request(c.url + offer.body.release.path, { headers: { authorization: `Bearer ${token}` } });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  expect(res.statusCode, bytes.toString().slice(0, 300)).toBe(200);
  return { version: offer.body.release.version, bytes, sha256: res.headers['x-bundle-sha256'] };
}

async function downloadStatus(c: Running, agentId: string, version: string): Promise<[number, string]> {
  const r = await call(c.url, 'GET', `/v1/agent/releases/${version}/bundle`, { token: await credentialFor(c.url, agentId) });
  return [r.status, r.body?.error?.code];
}

const versions = async (c: Running) => ((await call(c.url, 'GET', '/v1/releases')).body.releases as Array<{ version: string }>).map((r) => r.version).sort();
const keyOf = (s3Prefix: string, i: number) => s3Prefix + bundleName(bundles[i]!);
const prefixFor = () => 't' + randomBytes(4).toString('hex');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-release-store-'));
  [redis, s3] = await Promise.all([startRedis(), startS3Server([BUCKET])]);
  for (let n = 1; n <= 4; n++) {
    const commit = String(n).repeat(40);
    const { file, manifest } = await packBundle({ releaseDir: syntheticRelease(join(dir, `rel-${n}`), commit), outDir: join(dir, `out-${n}`) });
    const bytes = readFileSync(file);
    bundles.push({ version: `${manifest.version}-${commit.slice(0, 12)}`, bytes, sha256: sha(bytes) });
  }
});

afterAll(async () => {
  await Promise.all(running.splice(0).map((c) => c.close()));
  await s3?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('bundles in an S3 bucket', () => {
  const fleet = prefixFor();
  let a: Running;
  let b: Running;

  beforeAll(async () => {
    // Two controllers of one fleet: a with a private spool, b spooling in its releaseDir.
    a = await onS3(fleet, 'fleet-one/');
    b = await onS3(fleet, 'fleet-one/', { releaseDir: join(dir, 'b-spool') });
  });

  it('stores an upload in the bucket, not in Redis, and an agent downloads it byte for byte through the controller', async () => {
    const r = await put(a, bundles[0]!);
    expect(r.status).toBe(201);
    expect(r.body.release).toMatchObject({ version: bundles[0]!.version, sha256: bundles[0]!.sha256, size: bundles[0]!.bytes.length });
    expect(await s3.list(BUCKET, 'fleet-one/')).toEqual([keyOf('fleet-one/', 0)]);
    const stored = await s3.client.fetch(s3.url(BUCKET, keyOf('fleet-one/', 0)));
    expect(Buffer.from(await stored.arrayBuffer()).equals(bundles[0]!.bytes)).toBe(true);
    for (const k of await a.clients.command.keys(`{${fleet}}:release*`)) expect(await a.clients.command.type(k)).not.toBe('string');

    const got = await download(a, 'agent-one');
    expect([got.version, got.sha256]).toEqual([bundles[0]!.version, bundles[0]!.sha256]);
    expect(got.bytes.equals(bundles[0]!.bytes)).toBe(true);
  });

  it('two controllers on one bucket serve each other\'s releases; the spool keeps nothing', async () => {
    expect((await put(b, bundles[1]!, '?channel=beta')).status).toBe(201);
    expect(readdirSync(join(dir, 'b-spool'))).toEqual([]);
    expect(await versions(a)).toEqual([bundles[0]!.version, bundles[1]!.version].sort());
    // a never saw this upload: it streams the object from the bucket.
    const got = await download(a, 'agent-two', 'beta');
    expect(got.bytes.equals(bundles[1]!.bytes)).toBe(true);
    expect((await download(b, 'agent-two')).bytes.equals(bundles[0]!.bytes)).toBe(true);
  });

  it('a record whose object is gone answers 404 RELEASE_NOT_FOUND', async () => {
    const c = await onS3(prefixFor(), 'gone/');
    expect((await put(c, bundles[2]!)).status).toBe(201);
    const del = await s3.client.fetch(s3.url(BUCKET, keyOf('gone/', 2)), { method: 'DELETE' });
    expect(del.ok).toBe(true);
    expect(await downloadStatus(c, 'agent-three', bundles[2]!.version)).toEqual([404, 'RELEASE_NOT_FOUND']);
  });

  it('a key the store refuses is a 503 RELEASE_STORE_UNAVAILABLE whose reply and log hold no secret', async () => {
    const secret = `not-the-key-${randomBytes(12).toString('hex')}`;
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', name: 'controller', destination: { write: (s: string) => void lines.push(s) } });
    // Two lines, the other format the file takes. (s3rver refuses the unknown key id: it does not check signatures.)
    const wrong = await controller(
      {
        keyPrefix: fleet,
        releaseS3Endpoint: s3.endpoint,
        releaseS3Bucket: BUCKET,
        releaseS3Prefix: 'fleet-one/',
        releaseS3CredentialsFile: credentialsFile('wrong-key', `NOTAKEY\n${secret}\n`),
      },
      logger,
    );
    const r = await put(wrong, bundles[2]!);
    expect([r.status, r.body.error.code, r.headers['retry-after']]).toEqual([503, 'RELEASE_STORE_UNAVAILABLE', '30']);
    expect(await downloadStatus(wrong, 'agent-four', bundles[0]!.version)).toEqual([503, 'RELEASE_STORE_UNAVAILABLE']);
    const replies = r.text + JSON.stringify((await call(wrong.url, 'GET', `/v1/agent/releases/${bundles[0]!.version}/bundle`, { token: await credentialFor(wrong.url, 'agent-four') })).body);
    expect(lines.some((l) => l.includes('RELEASE_STORE_UNAVAILABLE'))).toBe(true);
    expect(replies + lines.join('')).not.toContain(secret);
    // Refused before it was recorded: the fleet has no such release, the bucket no such object.
    expect(await versions(a)).not.toContain(bundles[2]!.version);
    expect(await s3.list(BUCKET, 'fleet-one/')).not.toContain(keyOf('fleet-one/', 2));
  });

  it('every S3 request is bounded: a server that takes the connection and never answers is a 503, not a hang', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((sock) => void sockets.add(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const store = s3BundleBlobs({ endpoint: `http://127.0.0.1:${port}`, bucket: BUCKET, region: 'us-east-1', prefix: '', credentials: S3RVER_KEY, requestTimeoutMs: 200 }, dir);
    try {
      await expect(store.get('x.tar.gz')).rejects.toMatchObject({ code: 'RELEASE_STORE_UNAVAILABLE', statusCode: 503 });
      await expect(store.remove('x.tar.gz')).rejects.toMatchObject({ code: 'RELEASE_STORE_UNAVAILABLE' });
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('a store nothing listens on is a 503 too', async () => {
    const c = await controller({
      keyPrefix: prefixFor(),
      // A port nothing listens on (not port 1: fetch refuses that one itself, as a "bad port").
      releaseS3Endpoint: `http://127.0.0.1:${await freePort()}`,
      releaseS3Bucket: BUCKET,
      releaseS3CredentialsFile: credentialsFile('key-unreachable', JSON.stringify(S3RVER_KEY)),
    });
    const r = await put(c, bundles[0]!);
    expect([r.status, r.body.error.code]).toEqual([503, 'RELEASE_STORE_UNAVAILABLE']);
  });
});

describe('the cleanup (releaseKeep)', () => {
  it('in S3: keeps the newest N and every channel\'s latest and previous, deletes the rest\'s records and objects', async () => {
    const p = 'keep-two/';
    const c = await onS3(prefixFor(), p, { releaseKeep: 2 });
    const [v1, v2, v3, v4] = bundles.map((b) => b.version);
    expect((await put(c, bundles[0]!)).status).toBe(201);
    expect((await put(c, bundles[1]!)).status).toBe(201);
    // v1 stays the lts channel's latest however old it gets.
    expect((await call(c.url, 'POST', `/v1/releases/${v1}/rollout`, { body: { channel: 'lts' } })).status).toBe(200);
    expect((await put(c, bundles[2]!)).status).toBe(201);
    expect(await versions(c)).toEqual([v1, v2, v3].sort());
    // stable: latest v4, previous v3; the newest two are v4 and v3; lts: v1. v2 is nobody's.
    expect((await put(c, bundles[3]!)).status).toBe(201);
    expect(await versions(c)).toEqual([v1, v3, v4].sort());
    expect(await s3.list(BUCKET, p)).toEqual([0, 2, 3].map((i) => keyOf(p, i)).sort());
    expect(await downloadStatus(c, 'agent-five', v2!)).toEqual([404, 'RELEASE_NOT_FOUND']);
    expect((await download(c, 'agent-five', 'lts')).bytes.equals(bundles[0]!.bytes)).toBe(true);

    // Deleted is not banned: v2 uploaded again is stable's latest (v4 its previous), and v3 goes.
    expect((await put(c, bundles[1]!)).status).toBe(201);
    expect(await versions(c)).toEqual([v1, v2, v4].sort());
    expect(await s3.list(BUCKET, p)).toEqual([0, 1, 3].map((i) => keyOf(p, i)).sort());
    expect((await download(c, 'agent-five')).bytes.equals(bundles[1]!.bytes)).toBe(true);
  });

  it('on disk: the same rule, files deleted', async () => {
    const store = join(dir, 'disk-keep');
    const c = await controller({ keyPrefix: prefixFor(), releaseDir: store, releaseKeep: 1 });
    for (const b of bundles.slice(0, 3)) expect((await put(c, b)).status).toBe(201);
    // keep 1: v3 (latest) is the newest; v2 stays as stable's previous; v1 goes.
    expect(await versions(c)).toEqual([bundles[1]!.version, bundles[2]!.version].sort());
    expect(readdirSync(store).sort()).toEqual([bundleName(bundles[1]!), bundleName(bundles[2]!)].sort());
  });

  it('a version whose bundle a cleanup is deleting cannot be uploaded over until the deletion is done', async () => {
    const fleet = prefixFor();
    // keep 100: this controller's own cleanups remove nothing; another's, slow to delete, is played here.
    const c = await onS3(fleet, 'locks/', { releaseKeep: 100 });
    for (const b of bundles.slice(0, 3)) expect((await put(c, b)).status).toBe(201);
    const v1 = bundles[0]!.version;
    const keys = createKeys(fleet);
    const run = defineScripts(c.clients.command);
    // The other cleanup's first step (keep 1): v1 is nobody's (stable: latest v3, previous v2), so its
    // record goes and it is locked for deletion; the object is still there.
    const slow = await run('pruneReleases', [keys.base, keys.releases, keys.releaseChannels, keys.releaseLocks], { keep: 1, limit: 16, staleMs: 60_000 });
    expect(slow.removed).toEqual([{ version: v1, sha256: bundles[0]!.sha256 }]);
    // Uploaded again now, it would be written and then deleted under a record that says it is there.
    const refused = await put(c, bundles[0]!);
    expect([refused.status, refused.body.error.code, refused.headers['retry-after']]).toEqual([409, 'RELEASE_BEING_DELETED', '5']);
    // The slow cleanup finishes: the object goes, then its lock, and the upload goes through.
    expect((await s3.client.fetch(s3.url(BUCKET, keyOf('locks/', 0)), { method: 'DELETE' })).ok).toBe(true);
    expect(await run('unlockPrunedReleases', [keys.releaseLocks], { since: slow.since, versions: [v1] })).toEqual({ unlocked: 1 });
    expect((await put(c, bundles[0]!)).status).toBe(201);
    expect((await download(c, 'agent-six')).bytes.equals(bundles[0]!.bytes)).toBe(true);
  });

  it('uploads and rollouts racing on two controllers leave every channel\'s releases downloadable and no orphan object', async () => {
    const fleet = prefixFor();
    const p = 'race/';
    const [c1, c2] = await Promise.all([onS3(fleet, p, { releaseKeep: 1 }), onS3(fleet, p, { releaseKeep: 1 })]);
    const channels = ['stable', 'beta', 'edge'];
    for (let round = 0; round < 4; round++) {
      const work = bundles.map((b, i) => {
        const c = (i + (round >> 1)) % 2 ? c1 : c2;
        const channel = channels[(i + round) % 3]!;
        // The first round uploads everything; later ones mix uploads with rollouts of what is stored.
        return round === 0 || (i + round) % 2 ? put(c, b, `?channel=${channel}`) : call(c.url, 'POST', `/v1/releases/${b.version}/rollout`, { body: { channel } });
      });
      for (const r of await Promise.all(work)) {
        // A rollout of a version a cleanup took (404), an upload of one being deleted (409): refused whole.
        expect([200, 201, 404, 409], JSON.stringify(r.body)).toContain(r.status);
      }
    }
    const list = (await call(c1.url, 'GET', '/v1/releases')).body as { releases: Array<{ version: string; sha256: string }>; channels: Array<{ latest: string; previous: string | null }> };
    expect(list.channels.length).toBeGreaterThan(0);
    for (const ch of list.channels) {
      for (const v of [ch.latest, ch.previous].filter((x): x is string => x !== null)) {
        expect(list.releases.map((r) => r.version), `a channel points to ${v}`).toContain(v);
        const i = bundles.findIndex((b) => b.version === v);
        const res = await request(`${c2.url}/v1/agent/releases/${v}/bundle`, { headers: { authorization: `Bearer ${await credentialFor(c2.url, 'racer')}` } });
        expect(Buffer.from(await res.body.arrayBuffer()).equals(bundles[i]!.bytes), `the bundle of ${v}`).toBe(true);
      }
    }
    expect(await s3.list(BUCKET, p)).toEqual(list.releases.map((r) => p + bundleName(r)).sort());
  });
});

