// The controller's secrets at start: weak, placeholder or reused tokens refused with a message naming the
// setting and never the secret; signing keys read from PEM (several = rotation, the first signs).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, importJWK, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { loadControllerSecrets } from '../../controller/src/controller-secrets.js';
import { createPortTokenMinter, parseSigningKeys } from '../../controller/src/port-tokens.js';
import { controllerConfigSchema, loadConfig } from '../../src/shared/config/index.js';
import { ConfigError } from '../../src/shared/errors.js';
import { ed25519Pem } from '../helpers/identity.js';

const dir = mkdtempSync(join(tmpdir(), 'httpagent-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
};

const PLATFORM = 'platform-token-0123456789abcdef';
const ENROLL = 'enroll-token-0123456789abcdefgh';

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('tokens the controller accepts', () => {
  it.each([
    ['shorter than 24 characters', 'short-token-0123456789'],
    ['one repeated character', 'x'.repeat(40)],
  ])('refuses a platform token %s, naming the variable and not the token', (_what, token) => {
    const err = refusal(() => loadConfig(controllerConfigSchema, { env: { HTTPAGENT_PLATFORM_TOKEN: token } }));
    expect(err.message).toContain('HTTPAGENT_PLATFORM_TOKEN');
    expect(err.message).not.toContain(token);
  });

  it('refuses a weak enrollment token in the comma list', () => {
    const err = refusal(() => loadConfig(controllerConfigSchema, { env: { HTTPAGENT_PLATFORM_TOKEN: PLATFORM, HTTPAGENT_ENROLL_TOKEN: `${ENROLL},tiny` } }));
    expect(err.message).toContain('HTTPAGENT_ENROLL_TOKEN');
  });

  it('takes several enrollment tokens (rotation) from the setting and the file', () => {
    const second = 'enroll-token-second-0123456789';
    const config = loadConfig(controllerConfigSchema, {
      env: { HTTPAGENT_PLATFORM_TOKEN: PLATFORM, HTTPAGENT_ENROLL_TOKEN: ENROLL, HTTPAGENT_ENROLL_TOKEN_FILE: file('enroll', `${second}\n\n`) },
    });
    expect(loadControllerSecrets(config).enrollTokens).toEqual([ENROLL, second]);
  });

  it('refuses a viewer token equal to the platform token or an enrollment token, without printing it', () => {
    for (const viewerToken of [PLATFORM, ENROLL]) {
      const err = refusal(() => loadControllerSecrets({ platformToken: PLATFORM, enrollToken: [ENROLL], viewerToken }));
      expect(err.message).toMatch(/viewerToken \(HTTPAGENT_VIEWER_TOKEN\) equals/);
      expect(err.message).not.toContain(viewerToken);
    }
    expect(loadControllerSecrets({ platformToken: PLATFORM, enrollToken: [ENROLL], viewerToken: 'viewer-token-0123456789abcdef' }).enrollTokens).toEqual([ENROLL]);
  });

  it('refuses a platform token equal to an enrollment token, from the setting or the file', () => {
    const same = { platformToken: PLATFORM, enrollToken: [PLATFORM] };
    expect(refusal(() => loadControllerSecrets(same)).message).toMatch(/platformToken .* equals an enrollment token/);
    const inFile = { platformToken: PLATFORM, enrollToken: [], enrollTokenFile: file('same', `${ENROLL}\n${PLATFORM}\n`) };
    const err = refusal(() => loadControllerSecrets(inFile));
    expect(err.message).not.toContain(PLATFORM);
  });

  it('refuses an enrollment token file that is missing, empty or holds a weak token, never quoting it', () => {
    expect(refusal(() => loadControllerSecrets({ platformToken: PLATFORM, enrollToken: [], enrollTokenFile: join(dir, 'absent') })).message).toContain('ENOENT');
    expect(refusal(() => loadControllerSecrets({ platformToken: PLATFORM, enrollToken: [], enrollTokenFile: file('empty', '\n') })).message).toContain('holds no token');
    const weak = refusal(() => loadControllerSecrets({ platformToken: PLATFORM, enrollToken: [], enrollTokenFile: file('weak', 'zzzzzzzzzzzzzzzzzzzzzzzzzzzz') }));
    expect(weak.message).toContain('token 1');
    expect(weak.message).not.toContain('zzzz');
  });
});

describe('signing keys', () => {
  it('reads every Ed25519 key of a PEM file in order; the first signs, each verifies only its own tokens', async () => {
    const pems = [ed25519Pem(), ed25519Pem()];
    const keys = parseSigningKeys(pems.join('\n'), 'test');
    expect(keys).toHaveLength(2);
    for (const k of keys) expect(k.jwk.kid).toBe(await calculateJwkThumbprint(k.jwk));
    const minter = createPortTokenMinter(keys);
    expect(minter.portKeys.map((k) => k.kid)).toEqual(keys.map((k) => k.jwk.kid));
    const { token } = await minter.mint('agent-1', 30);
    await jwtVerify(token, await importJWK(keys[0]!.jwk, 'EdDSA'), { audience: 'agent-1' });
    await expect(jwtVerify(token, await importJWK(keys[1]!.jwk, 'EdDSA'))).rejects.toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it('never mints a token living past 300 s, whatever it is asked', async () => {
    const minter = createPortTokenMinter(parseSigningKeys(ed25519Pem(), 'test'), () => 1_700_000_000_000);
    const { token, expiresAt } = await minter.mint('agent-1', 3600);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { iat: number; exp: number };
    expect(claims.exp - claims.iat).toBe(300);
    expect(expiresAt).toBe(1_700_000_300_000);
  });

  it('refuses a file with no key, an RSA key or an encrypted key, naming the setting', () => {
    expect(refusal(() => parseSigningKeys('not a key', 'signingKeyFile')).message).toContain('no PEM block');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(refusal(() => parseSigningKeys(rsa, 'signingKeyFile')).message).toContain('Ed25519');
    const encrypted = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
    expect(refusal(() => parseSigningKeys(encrypted, 'signingKeyFile')).message).toContain('ENCRYPTED PRIVATE KEY');
    expect(refusal(() => loadControllerSecrets({ platformToken: PLATFORM, enrollToken: [], signingKeyFile: file('rsa.pem', rsa) })).message).toContain('HTTPAGENT_SIGNING_KEY_FILE');
  });

  it('a controller without signing keys publishes none and refuses to mint', async () => {
    const minter = createPortTokenMinter([]);
    expect(minter.portKeys).toEqual([]);
    await expect(minter.mint('agent-1')).rejects.toMatchObject({ code: 'SIGNING_KEY_UNSET', statusCode: 503 });
  });
});

describe('the S3 release store\'s access key', () => {
  const SECRET = 'wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY';
  const settings = (releaseS3CredentialsFile: string) => ({ platformToken: PLATFORM, enrollToken: [], releaseS3CredentialsFile });

  it('reads JSON or two lines from a file only its owner can read', () => {
    const json = file('s3.json', JSON.stringify({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET }));
    expect(loadControllerSecrets(settings(json)).releaseS3).toEqual({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET });
    const lines = file('s3.txt', `AKIAEXAMPLE\r\n${SECRET}\n\n`);
    expect(loadControllerSecrets(settings(lines)).releaseS3).toEqual({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET });
    expect(loadControllerSecrets({ platformToken: PLATFORM, enrollToken: [] }).releaseS3).toBeUndefined();
  });

  it('refuses a file group or others can read, saying how to fix it', () => {
    const open = join(dir, 's3-open.json');
    writeFileSync(open, JSON.stringify({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET }), { mode: 0o644 });
    const err = refusal(() => loadControllerSecrets(settings(open)));
    expect(err.message).toMatch(/HTTPAGENT_RELEASE_S3_CREDENTIALS_FILE.*mode 644.*chmod 600/);
    expect(err.message).not.toContain(SECRET);
  });

  let bad = 0;
  it.each([
    ['one line', SECRET],
    ['three lines', `AKIAEXAMPLE\n${SECRET}\nextra`],
    ['JSON with another key', JSON.stringify({ accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET, sessionToken: 'x' })],
    ['broken JSON', `{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "${SECRET}"`],
    ['a key with a space', `AKIA EXAMPLE\n${SECRET}`],
  ])('refuses %s without quoting the file', (_what, text) => {
    const err = refusal(() => loadControllerSecrets(settings(file(`s3-bad-${++bad}`, text))));
    expect(err.message).toContain('does not hold an access key');
    expect(err.message).not.toContain(SECRET);
  });

  it('the settings come as a set, and the endpoint carries no credentials (nor prints them)', () => {
    const env = { HTTPAGENT_PLATFORM_TOKEN: PLATFORM };
    const half = refusal(() => loadConfig(controllerConfigSchema, { env: { ...env, HTTPAGENT_RELEASE_S3_ENDPOINT: 'http://minio:9000', HTTPAGENT_RELEASE_S3_BUCKET: 'releases' } }));
    expect(half.message).toMatch(/^HTTPAGENT_RELEASE_S3_CREDENTIALS_FILE: needed with releaseS3Endpoint and releaseS3Bucket/);
    const inUrl = refusal(() => loadConfig(controllerConfigSchema, { env: { ...env, HTTPAGENT_RELEASE_S3_ENDPOINT: `http://AKIAEXAMPLE:${SECRET}@minio:9000` } }));
    expect(inUrl.message).toContain('releaseS3CredentialsFile only');
    expect(inUrl.message).not.toContain(SECRET);
    expect(refusal(() => loadConfig(controllerConfigSchema, { env: { ...env, HTTPAGENT_RELEASE_S3_BUCKET: 'Not_A_Bucket' } })).message).toContain('HTTPAGENT_RELEASE_S3_BUCKET');
    const whole = loadConfig(controllerConfigSchema, {
      env: { ...env, HTTPAGENT_RELEASE_S3_ENDPOINT: 'https://s3.example.com', HTTPAGENT_RELEASE_S3_BUCKET: 'releases', HTTPAGENT_RELEASE_S3_CREDENTIALS_FILE: '/etc/httpagent/s3.json' },
    });
    expect([whole.releaseS3Region, whole.releaseS3Prefix, whole.releaseKeep]).toEqual(['us-east-1', '', 10]);
  });
});
