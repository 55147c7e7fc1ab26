// The controller process refuses to start on secrets that would not guard the fleet: a short or
// placeholder token, the platform token reused as an enrollment token, a signing key that is not Ed25519,
// an S3 release store set up by halves or with an access key file others can read.
// Each is exit 2 with one line naming the setting, before Redis is even asked, and never the secret.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { spawnHttpagent, type Spawned } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'httpagent-start-'));
const rsaKey = join(dir, 'rsa.pem');
writeFileSync(rsaKey, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });

const PLATFORM = 'platform-token-0123456789abcdef';
const S3_SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
const s3Open = join(dir, 's3-open.json');
writeFileSync(s3Open, JSON.stringify({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: S3_SECRET }), { mode: 0o644 });
const s3 = { HTTPAGENT_PLATFORM_TOKEN: PLATFORM, HTTPAGENT_RELEASE_S3_ENDPOINT: 'http://127.0.0.1:1', HTTPAGENT_RELEASE_S3_BUCKET: 'releases' };
// Nothing listens there: a controller that got past its checks would wait for Redis, not exit 2.
const base = { HTTPAGENT_REDIS_URL: 'redis://127.0.0.1:1', HTTPAGENT_LISTEN: '127.0.0.1:0' };

const started: Spawned[] = [];
afterAll(async () => {
  // A process that wrongly started would otherwise outlive the file.
  await Promise.all(started.splice(0).map((p) => p.kill('SIGKILL')));
  rmSync(dir, { recursive: true, force: true });
});

const cases: Array<[string, Record<string, string>, string, string]> = [
  ['a platform token shorter than 24 characters', { HTTPAGENT_PLATFORM_TOKEN: 'short-but-16-chars' }, 'HTTPAGENT_PLATFORM_TOKEN', 'short-but-16-chars'],
  ['a placeholder token of one repeated character', { HTTPAGENT_PLATFORM_TOKEN: PLATFORM, HTTPAGENT_ENROLL_TOKEN: 'x'.repeat(32) }, 'HTTPAGENT_ENROLL_TOKEN', 'x'.repeat(32)],
  ['the platform token reused as an enrollment token', { HTTPAGENT_PLATFORM_TOKEN: PLATFORM, HTTPAGENT_ENROLL_TOKEN: PLATFORM }, 'HTTPAGENT_PLATFORM_TOKEN', PLATFORM],
  ['a signing key that is not Ed25519', { HTTPAGENT_PLATFORM_TOKEN: PLATFORM, HTTPAGENT_SIGNING_KEY_FILE: rsaKey }, 'HTTPAGENT_SIGNING_KEY_FILE', 'PRIVATE KEY-----'],
  ['an S3 release store without its credentials file', s3, 'HTTPAGENT_RELEASE_S3_CREDENTIALS_FILE', 'no secret here'],
  ['an S3 access key file others can read', { ...s3, HTTPAGENT_RELEASE_S3_CREDENTIALS_FILE: s3Open }, 'HTTPAGENT_RELEASE_S3_CREDENTIALS_FILE', S3_SECRET],
];

describe('httpagent controller start-up checks', () => {
  // Concurrent: each is a process start (seconds under tsx), and they share nothing.
  it.concurrent.each(cases)('refuses %s: exit 2, one line naming the setting, not the secret', async (_what, env, setting, secret) => {
    const p = spawnHttpagent(['controller'], { ...base, ...env });
    started.push(p);
    expect(await p.exited()).toBe(2);
    const lines = p.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(setting);
    expect(lines[0]).not.toContain(secret);
  });
});
