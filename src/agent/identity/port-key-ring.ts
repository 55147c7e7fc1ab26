// The public keys a port token may be signed with: the controller's (handed out at enrollment and on
// every register, kept in <stateDir>/port-keys.json so the port checks tokens before the controller is
// back), or, when the config pins portTokenKeysFile, the platform's own and only those.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { calculateJwkThumbprint, importJWK, type CryptoKey } from 'jose';
import { z } from 'zod';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { portKeySchema, type PortKey } from '../../shared/protocol/identity.js';
import { writeFileAtomic } from '../../shared/atomic-file.js';

export const PORT_KEYS_FILE = 'port-keys.json';

/** A key ready to verify with, under its kid (the RFC 7638 thumbprint of its JWK). */
export interface VerifyKey {
  kid: string;
  key: CryptoKey;
}

export interface PortKeyRing {
  /** controller: keys from enrollment and register · file: portTokenKeysFile, fixed for the process's life. */
  readonly source: 'controller' | 'file';
  /** The keys that may have signed a token with this kid; every key when the token names none. */
  candidates(kid: string | undefined): VerifyKey[];
  /** Takes the controller's current list (a rotation adds or drops keys); ignored when source is file. */
  update(keys: readonly PortKey[]): Promise<void>;
  readonly size: number;
  /** Changes whenever the keys do: what was verified with the old ones must be verified again. */
  readonly generation: number;
}

const storedSchema = z.object({ keys: z.array(portKeySchema).max(8) });

export function portKeysPath(stateDir: string): string {
  return join(stateDir, PORT_KEYS_FILE);
}

async function toVerifyKeys(keys: readonly PortKey[]): Promise<VerifyKey[]> {
  return Promise.all(keys.map(async (k) => ({ kid: k.kid, key: (await importJWK({ kty: k.kty, crv: k.crv, x: k.x }, 'EdDSA')) as CryptoKey })));
}

/** Every `-----BEGIN PUBLIC KEY-----` block of a PEM file as an Ed25519 JWK with its thumbprint as kid. */
export async function readPublicKeysPem(file: string): Promise<PortKey[]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`portTokenKeysFile ${file}: ${(err as Error).message}`, { cause: err });
  }
  const blocks = text.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(`portTokenKeysFile ${file}: no PEM public key (-----BEGIN PUBLIC KEY-----) in it`);
  if (blocks.length > 8) throw new ConfigError(`portTokenKeysFile ${file}: at most 8 keys, found ${blocks.length}`);
  return Promise.all(
    blocks.map(async (pem, i) => {
      let jwk: { kty?: string; crv?: string; x?: string };
      try {
        const key = createPublicKey(pem);
        if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519`);
        jwk = key.export({ format: 'jwk' });
      } catch (err) {
        throw new ConfigError(`portTokenKeysFile ${file}: key ${i + 1}: ${(err as Error).message}`, { cause: err });
      }
      const base = { kty: 'OKP' as const, crv: 'Ed25519' as const, x: jwk.x ?? '' };
      return portKeySchema.parse({ ...base, kid: await calculateJwkThumbprint(base) });
    }),
  );
}

function readStored(file: string, logger: Logger): PortKey[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return []; // not enrolled yet, or never registered since: the controller sends them
  }
  try {
    const parsed = storedSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data.keys;
  } catch {
    // fall through
  }
  logger.warn({ file }, 'port keys file unreadable; waiting for the controller to send the keys again');
  return [];
}

export interface PortKeyRingOptions {
  stateDir: string;
  portTokenKeysFile?: string | undefined;
  logger: Logger;
}

/** Loads the ring at start; throws ConfigError when portTokenKeysFile is set but unusable. */
export async function loadPortKeyRing(opts: PortKeyRingOptions): Promise<PortKeyRing> {
  const file = portKeysPath(opts.stateDir);
  const fixed = opts.portTokenKeysFile !== undefined;
  let current: PortKey[] = fixed ? await readPublicKeysPem(opts.portTokenKeysFile!) : readStored(file, opts.logger);
  let verify = await toVerifyKeys(current);
  let generation = 0;
  const same = (a: readonly PortKey[], b: readonly PortKey[]) => JSON.stringify(a) === JSON.stringify(b);

  return {
    source: fixed ? 'file' : 'controller',
    candidates(kid) {
      return kid === undefined ? verify : verify.filter((k) => k.kid === kid);
    },
    async update(keys) {
      if (fixed || same(keys, current)) return;
      const next = await toVerifyKeys(keys);
      // Swap only once every key imported: a bad key in a reply must not leave the port with none.
      current = [...keys];
      verify = next;
      generation++;
      writeFileAtomic(file, JSON.stringify({ keys: current }, null, 2) + '\n');
      opts.logger.info({ kids: current.map((k) => k.kid) }, 'port token keys updated');
    },
    get size() {
      return verify.length;
    },
    get generation() {
      return generation;
    },
  };
}
