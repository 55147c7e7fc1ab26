// The credential file and the port keys beside it, on a real filesystem: written 0600 whatever the umask
// and never through a planted file; read only when it is this user's own, private, regular file.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPortKeyRing, readPublicKeysPem } from '../../src/agent/identity/port-key-ring.js';
import { readCredential, writeCredential } from '../../src/shared/credential-file.js';
import { HttpAgentError } from '../../src/shared/errors.js';
import { silentLogger } from '../../src/shared/log.js';
import { createPortTokenSigner } from '../helpers/port-tokens.js';

const SECRET = 'S'.repeat(43);
const CREDENTIAL = `ha1:host-1:${SECRET}`;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'httpagent-cred-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function refusal(fn: () => unknown): HttpAgentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpAgentError);
    expect((err as HttpAgentError).code).toBe('CONFIG_INVALID');
    expect((err as Error).message).not.toContain(SECRET);
    return err as HttpAgentError;
  }
  throw new Error('expected a refusal');
}

describe('the credential file', () => {
  it('is written 0600 even under a permissive umask, leaves no temp file, and reads back', () => {
    const old = process.umask(0o000);
    try {
      writeCredential(join(dir, 'state'), CREDENTIAL);
    } finally {
      process.umask(old);
    }
    const file = join(dir, 'state', 'credential');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state')).mode & 0o077).toBe(0);
    expect(readdirSync(join(dir, 'state'))).toEqual(['credential']);
    expect(readCredential(join(dir, 'state'))).toEqual({ agentId: 'host-1', bearer: CREDENTIAL });
  });

  it('is absent (undefined) before enrollment', () => {
    expect(readCredential(dir)).toBeUndefined();
  });

  it('refuses a symlink, a file others may read, and content that is not a credential, without echoing it', () => {
    const elsewhere = join(dir, 'elsewhere');
    writeFileSync(elsewhere, CREDENTIAL, { mode: 0o600 });
    symlinkSync(elsewhere, join(dir, 'credential'));
    expect(refusal(() => readCredential(dir)).message).toMatch(/symlink/);
    rmSync(join(dir, 'credential'));

    writeFileSync(join(dir, 'credential'), CREDENTIAL, { mode: 0o600 });
    chmodSync(join(dir, 'credential'), 0o644);
    expect(refusal(() => readCredential(dir)).message).toMatch(/mode 644.*chmod 600/);

    writeFileSync(join(dir, 'credential'), `not-${SECRET}`, { mode: 0o600 });
    chmodSync(join(dir, 'credential'), 0o600);
    expect(refusal(() => readCredential(dir)).message).toMatch(/does not hold a credential/);
  });

  it('refuses to write a malformed credential', () => {
    expect(() => writeCredential(dir, 'ha1:host-1:short')).toThrow(/malformed/);
    expect(existsSync(join(dir, 'credential'))).toBe(false);
  });
});

describe('the port key ring', () => {
  it('keeps the controller keys in port-keys.json and starts from them', async () => {
    const ring = await loadPortKeyRing({ stateDir: dir, logger: silentLogger() });
    expect(ring.size).toBe(0);
    const keys = [{ kty: 'OKP' as const, crv: 'Ed25519' as const, x: 'b9q2NGEk9YAy03bWwNuXtMCMLlvC5r6paia_fQNaYGA', kid: 'k1' }];
    await ring.update(keys);
    expect(ring.generation).toBe(1);
    expect(statSync(join(dir, 'port-keys.json')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(dir, 'port-keys.json'), 'utf8'))).toEqual({ keys });
    const again = await loadPortKeyRing({ stateDir: dir, logger: silentLogger() });
    expect(again.candidates('k1')).toHaveLength(1);
    expect(again.candidates('other')).toHaveLength(0);
    expect(again.candidates(undefined)).toHaveLength(1);
  });

  it('with portTokenKeysFile, takes those keys only and ignores the controller', async () => {
    const [s1, s2] = [await createPortTokenSigner(), await createPortTokenSigner()];
    const file = join(dir, 'keys.pem');
    writeFileSync(file, s1.publicPem + s2.publicPem);
    expect((await readPublicKeysPem(file)).map((k) => k.kid)).toEqual([s1.kid, s2.kid]);
    const ring = await loadPortKeyRing({ stateDir: dir, portTokenKeysFile: file, logger: silentLogger() });
    expect(ring.source).toBe('file');
    await ring.update([{ kty: 'OKP', crv: 'Ed25519', x: 'b9q2NGEk9YAy03bWwNuXtMCMLlvC5r6paia_fQNaYGA', kid: 'k1' }]);
    expect(ring.candidates('k1')).toHaveLength(0);
    expect(ring.size).toBe(2);
    expect(existsSync(join(dir, 'port-keys.json'))).toBe(false);
  });

  it('refuses a keys file with no Ed25519 public key in it', async () => {
    const file = join(dir, 'keys.pem');
    writeFileSync(file, 'nothing here\n');
    await expect(readPublicKeysPem(file)).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
