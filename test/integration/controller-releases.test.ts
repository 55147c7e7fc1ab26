// The controller's release channel with real bundles, a real Redis and real HTTP: the platform PUTs a
// bundle (streamed to releaseDir, verified, never into Redis), bad uploads are refused with their codes and
// leave nothing behind, each agent is offered its release (a canary by id hash or by registered labels,
// the rest stay on the previous one), and the download is the stored file byte for byte.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineScripts } from '../../controller/src/commands.js';
import { createKeys } from '../../controller/src/keys.js';
import { canaryBucket } from '../../controller/src/release-store.js';
import { packBundle } from '../../src/ops/bundle-pack.js';
import { newSigningKey, replaceInBundle, syntheticRelease, writeAllowedSigners } from '../helpers/bundles.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { waitUntil } from '../helpers/wait.js';
import { PLATFORM_TOKEN, agentBody, call, credentialFor, startController, type Running } from './controller-harness.js';

let dir: string;
let redis: PrivateRedis;
let c: Running;
let off: Running;
const bundles: Record<string, { file: string; version: string; bytes: Buffer }> = {};

async function put(url: string, version: string, body: Buffer, query = '', token: string | null = PLATFORM_TOKEN) {
  return call(url, 'PUT', `/v1/releases/${version}${query}`, { raw: body, contentType: 'application/gzip', token });
}

async function latestFor(agentId: string, channel = 'stable') {
  const token = await credentialFor(c.url, agentId);
  return call(c.url, 'GET', `/v1/agent/releases/latest?channel=${channel}`, { token });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-ctl-releases-'));
  redis = await startRedis();
  c = await startController(redis.url, { releaseDir: join(dir, 'store'), releaseMaxBytes: 1024 * 1024 });
  off = await startController(redis.url);
  for (const n of ['1', '2', '3']) {
    const commit = n.repeat(40);
    const rel = syntheticRelease(join(dir, `rel-${n}`), commit);
    const { file, manifest } = await packBundle({ releaseDir: rel, outDir: join(dir, `out-${n}`) });
    bundles[n] = { file, version: `${manifest.version}-${commit.slice(0, 12)}`, bytes: readFileSync(file) };
  }
});

afterAll(async () => {
  await c?.close();
  await off?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('PUT /v1/releases/:version', () => {
  it('takes the platform token only, before reading the body', async () => {
    const b = bundles['1']!;
    expect((await put(c.url, b.version, b.bytes, '', null)).status).toBe(401);
    const agentCred = await credentialFor(c.url, 'sneaky-agent');
    expect((await put(c.url, b.version, b.bytes, '', agentCred)).status).toBe(401);
  });

  it('stores a bundle on disk, its record in Redis, and rolls it out to everyone', async () => {
    const b = bundles['1']!;
    const r = await put(c.url, b.version, b.bytes);
    expect(r.status).toBe(201);
    expect(r.body.release).toMatchObject({ version: b.version, commit: '1'.repeat(40), sha256: createHash('sha256').update(b.bytes).digest('hex'), size: b.bytes.length, signed: false });
    expect(r.body.channel).toMatchObject({ channel: 'stable', latest: b.version, previous: null, canaryPercent: 100 });
    const stored = readdirSync(join(dir, 'store'));
    expect(stored).toHaveLength(1);
    expect(readFileSync(join(dir, 'store', stored[0]!)).equals(b.bytes)).toBe(true);
    // Redis holds records only: no value anywhere near a bundle's size.
    const keys = await c.clients.command.keys(`{${c.config.keyPrefix}}:release*`);
    for (const k of keys) expect(await c.clients.command.type(k)).not.toBe('string');
    // The same bytes again: the same release, no error.
    expect((await put(c.url, b.version, b.bytes)).status).toBe(201);
  });

  it('refuses bad uploads with their codes and keeps nothing of them', async () => {
    const b = bundles['2']!;
    const before = readdirSync(join(dir, 'store')).sort();
    const cases: Array<[Buffer, string, number, string]> = [
      [b.bytes.subarray(0, b.bytes.length >> 1), b.version, 422, 'BUNDLE_TRUNCATED'],
      [Buffer.from('<html>not a bundle</html>'), b.version, 422, 'BUNDLE_MALFORMED'],
      [b.bytes, bundles['3']!.version, 400, 'BAD_REQUEST'],
      [randomBytes(2 * 1024 * 1024), b.version, 413, 'BUNDLE_TOO_LARGE'],
    ];
    replaceInBundle(b.file, join(dir, 'tampered.tar.gz'), 'the original payload', 'the attacker payload');
    cases.push([readFileSync(join(dir, 'tampered.tar.gz')), b.version, 422, 'BUNDLE_TAMPERED']);
    for (const [body, version, status, code] of cases) {
      const r = await put(c.url, version, body);
      expect([r.status, r.body.error?.code]).toEqual([status, code]);
    }
    expect(readdirSync(join(dir, 'store')).sort()).toEqual(before);
    // Other content under a version already stored.
    const rebuilt = syntheticRelease(join(dir, 'rel-1-again'), '1'.repeat(40));
    writeFileSync(join(rebuilt, 'scripts', 'extra'), 'new\n');
    const again = await packBundle({ releaseDir: rebuilt, outDir: join(dir, 'out-1-again') });
    const r = await put(c.url, bundles['1']!.version, readFileSync(again.file));
    expect([r.status, r.body.error?.code]).toEqual([409, 'RELEASE_EXISTS']);
  });

  it('answers 503 RELEASES_DISABLED without a releaseDir', async () => {
    const r = await put(off.url, bundles['1']!.version, bundles['1']!.bytes);
    expect([r.status, r.body.error?.code]).toEqual([503, 'RELEASES_DISABLED']);
  });

  it('verifies signatures when releaseAllowedSigners is set', async () => {
    const key = await newSigningKey(dir, 'ctl-key');
    const signers = writeAllowedSigners(join(dir, 'signers'), [key]);
    const strict = await startController(redis.url, { releaseDir: join(dir, 'strict-store'), releaseAllowedSigners: signers });
    try {
      const unsigned = await put(strict.url, bundles['1']!.version, bundles['1']!.bytes);
      expect([unsigned.status, unsigned.body.error?.code]).toEqual([422, 'BUNDLE_UNSIGNED']);
      const signed = await packBundle({ releaseDir: join(dir, 'rel-1'), outDir: join(dir, 'signed-1'), signingKey: key.key });
      const ok = await put(strict.url, bundles['1']!.version, readFileSync(signed.file));
      expect([ok.status, ok.body.release.signed]).toEqual([201, true]);
    } finally {
      await strict.close();
    }
  });
});

describe('the channel, per agent', () => {
  const fleet = Array.from({ length: 40 }, (_, i) => `fleet-${i}`);

  it('offers the latest to all, then a 30% canary by id hash, the rest staying on the previous release', async () => {
    for (const id of fleet.slice(0, 3)) expect((await latestFor(id)).body.release.version).toBe(bundles['1']!.version);
    const r = await put(c.url, bundles['2']!.version, bundles['2']!.bytes, '?channel=stable&canaryPercent=30');
    expect(r.body.channel).toMatchObject({ latest: bundles['2']!.version, previous: bundles['1']!.version, canaryPercent: 30 });
    for (const id of fleet) {
      const got = (await latestFor(id)).body;
      const inCanary = canaryBucket(id) < 30;
      expect([id, got.release.version, got.canary]).toEqual([id, inCanary ? bundles['2']!.version : bundles['1']!.version, inCanary]);
    }
    expect(fleet.some((id) => canaryBucket(id) < 30) && fleet.some((id) => canaryBucket(id) >= 30)).toBe(true);
  });

  it('a label selector picks the canary from the labels agents registered with', async () => {
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('rack-one', { rack: 'r1' }) });
    await call(c.url, 'POST', '/v1/agent/register', { body: agentBody('rack-two', { rack: 'r2' }) });
    const r = await put(c.url, bundles['3']!.version, bundles['3']!.bytes, '?canaryPercent=0&canaryLabels=rack%3Dr1');
    expect(r.body.channel).toMatchObject({ latest: bundles['3']!.version, previous: bundles['2']!.version, canaryPercent: 0, canaryLabels: { rack: 'r1' } });
    expect((await latestFor('rack-one')).body).toMatchObject({ canary: true, release: { version: bundles['3']!.version } });
    expect((await latestFor('rack-two')).body).toMatchObject({ canary: false, release: { version: bundles['2']!.version } });
    // An agent cannot pick its labels at ask time: the query takes only the channel.
    const token = await credentialFor(c.url, 'rack-two');
    expect((await call(c.url, 'GET', '/v1/agent/releases/latest?channel=stable&labels=rack%3Dr1', { token })).status).toBe(400);
  });

  it('a rollout promotes the canary to everyone, and another channel is apart', async () => {
    const r = await call(c.url, 'POST', `/v1/releases/${bundles['3']!.version}/rollout`, { body: { channel: 'stable' } });
    expect(r.status).toBe(200);
    expect((await latestFor('rack-two')).body).toMatchObject({ canary: false, release: { version: bundles['3']!.version } });
    expect((await latestFor('rack-two', 'beta')).body).toEqual({ channel: 'beta', canary: false, release: null });
    const missing = await call(c.url, 'POST', '/v1/releases/0.0.0-nothere/rollout', { body: { channel: 'beta' } });
    expect([missing.status, missing.body.error.code]).toEqual([404, 'RELEASE_NOT_FOUND']);
    const list = (await call(c.url, 'GET', '/v1/releases')).body;
    expect(list.releases.map((x: { version: string }) => x.version).sort()).toEqual(['1', '2', '3'].map((n) => bundles[n]!.version).sort());
    expect(list.channels.map((x: { channel: string }) => x.channel)).toEqual(['stable']);
  });

  it('a bounded rollout lets maxInFlight agents move at a time; one that registers on the release gives its place on', async () => {
    const two = bundles['2']!;
    const r = await call(c.url, 'POST', `/v1/releases/${two.version}/rollout`, { body: { channel: 'bounded', maxInFlight: 2 } });
    expect(r.body.channel).toMatchObject({ channel: 'bounded', latest: two.version, maxInFlight: 2 });
    const [a, b, late] = ['slot-a', 'slot-b', 'slot-c'];
    const onCommit = (id: string, commit: string) => call(c.url, 'POST', '/v1/agent/register', { body: { ...agentBody(id), commit } });
    for (const id of [a, b, late]) expect((await onCommit(id!, '1'.repeat(40))).status).toBeLessThan(300);
    const held = async (id: string) => {
      const got = (await latestFor(id, 'bounded')).body;
      // Held or not, the agent is told which release is its own.
      expect(got.release.version).toBe(two.version);
      return got.held === true;
    };
    expect([await held(a!), await held(b!), await held(late!)]).toEqual([false, false, true]);
    // Admitted stays admitted (an agent asks at every tick until it has moved); the third still waits.
    expect([await held(a!), await held(late!)]).toEqual([false, true]);
    // slot-a registered on the release: it has arrived, its place is free before it asks again.
    await onCommit(a!, '2'.repeat(40));
    expect(await held(late!)).toBe(false);
    expect(await held(a!)).toBe(false);
    // An unbounded channel never holds anyone.
    expect((await latestFor(late!)).body.held).toBeUndefined();
  });

  it('an agent admitted to a bounded rollout that never arrives gives its place up after staleMs', async () => {
    const keys = createKeys(c.config.keyPrefix);
    const run = defineScripts(c.clients.command);
    const moving = keys.releaseMoving('stale-test', 'v1');
    const offer = (agentId: string) => run('offerRelease', [keys.base, moving], { agentId, commit: 'f'.repeat(40), max: 1, staleMs: 300, ttlMs: 60_000 });
    expect(await offer('gone-host')).toEqual({ admitted: true, moving: 1 });
    expect(await offer('next-host')).toEqual({ admitted: false, moving: 1 });
    await waitUntil('the admission to go stale', async () => (await offer('next-host')).admitted, { timeoutMs: 10_000, intervalMs: 100 });
    // The lapsed host asking again (at its every tick) is let through without taking the place back.
    expect(await offer('gone-host')).toEqual({ admitted: true, moving: 1 });
    expect(await offer('third-host')).toEqual({ admitted: false, moving: 1 });
    expect(await c.clients.command.zrangebyscore(moving, '0', '+inf')).toEqual(['next-host']);
    expect(await c.clients.command.pttl(moving)).toBeGreaterThan(50_000);
  });

  it('downloads the stored bytes with the agent credential only', async () => {
    const b = bundles['3']!;
    const path = (await latestFor('rack-two')).body.release.path as string;
    const token = await credentialFor(c.url, 'rack-two');
    const res = await request(c.url + path, { headers: { authorization: `Bearer ${token}` } });
    const body = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-bundle-sha256']).toBe(createHash('sha256').update(b.bytes).digest('hex'));
    expect(body.equals(b.bytes)).toBe(true);
    expect((await call(c.url, 'GET', path, { token: PLATFORM_TOKEN })).status).toBe(401);
    expect((await call(c.url, 'GET', '/v1/agent/releases/9.9.9-nope/bundle', { token })).body.error.code).toBe('RELEASE_NOT_FOUND');
  });
});
