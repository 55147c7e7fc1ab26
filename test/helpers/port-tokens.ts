// Port tokens for tests that call an agent's port without a controller: a local Ed25519 key whose
// public half goes in the agent's portTokenKeysFile, and tokens signed with it, good or deliberately bad.
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, base64url, calculateJwkThumbprint } from 'jose';
import { loadPortKeyRing, type PortKeyRing } from '../../src/agent/identity/port-key-ring.js';
import { silentLogger } from '../../src/shared/log.js';

export interface MintOptions {
  /** Lifetime from iat; default 120 s. */
  ttlSec?: number;
  /** Seconds since the epoch; null leaves the claim out. Default now. */
  iat?: number | null;
  /** Overrides iat + ttlSec. */
  exp?: number;
  /** Default the key's thumbprint; null leaves it out. */
  kid?: string | null;
}

export interface PortTokenSigner {
  /** PEM SPKI of the public key: what an agent's portTokenKeysFile holds. */
  publicPem: string;
  kid: string;
  mint(aud: string, o?: MintOptions): Promise<string>;
}

const nowSec = () => Math.floor(Date.now() / 1000);

/** A fresh key, or the one in `privatePem` (PKCS#8: a controller's signing key, to forge what it would not mint). */
export async function createPortTokenSigner(privatePem?: string): Promise<PortTokenSigner> {
  const privateKey = privatePem === undefined ? generateKeyPairSync('ed25519').privateKey : createPrivateKey(privatePem);
  const publicKey = createPublicKey(privateKey);
  const jwk = publicKey.export({ format: 'jwk' });
  const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: jwk.x! });
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    kid,
    mint: (aud, o = {}) => signWith(privateKey, aud, o.kid === undefined ? kid : o.kid, o),
  };
}

async function signWith(key: KeyObject, aud: string, kid: string | null, o: MintOptions): Promise<string> {
  const iat = o.iat === undefined ? nowSec() : o.iat;
  const exp = o.exp ?? (iat ?? nowSec()) + (o.ttlSec ?? 120);
  const jwt = new SignJWT({ iss: 'httpagent-controller' }).setProtectedHeader({ alg: 'EdDSA', ...(kid ? { kid } : {}) }).setAudience(aud).setExpirationTime(exp);
  if (iat !== null) jwt.setIssuedAt(iat);
  return jwt.sign(key);
}

/** The attacks on algorithm choice: claims a port would accept, "signed" with HS256 (secret: the public key PEM) or not at all. */
export function forgedTokens(aud: string, publicPem: string): Record<'hs256' | 'none', string> {
  const claims = base64url.encode(JSON.stringify({ aud, iat: nowSec(), exp: nowSec() + 60 }));
  const hsHeader = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const mac = createHmac('sha256', publicPem).update(`${hsHeader}.${claims}`).digest();
  const noneHeader = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
  return { hs256: `${hsHeader}.${claims}.${base64url.encode(mac)}`, none: `${noneHeader}.${claims}.` };
}

/** Writes the signers' public keys as one portTokenKeysFile in `dir`; returns its path. */
export function writePortKeysFile(dir: string, ...signers: PortTokenSigner[]): string {
  const file = join(dir, 'port-token-keys.pem');
  writeFileSync(file, signers.map((s) => s.publicPem).join(''));
  return file;
}

/** The ring an in-process agent server checks tokens with: these signers' keys only. */
export async function ringFor(dir: string, ...signers: PortTokenSigner[]): Promise<PortKeyRing> {
  return loadPortKeyRing({ stateDir: dir, portTokenKeysFile: writePortKeysFile(dir, ...signers), logger: silentLogger() });
}
