// Port tokens: short-lived EdDSA JWTs the platform presents to one agent's port, signed with the
// controller's Ed25519 keys. Several keys make a rotation: the first signs, all are published to agents.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { ConfigError, HttpAgentError } from '../../src/shared/errors.js';
import { PORT_TOKEN_MAX_TTL_SEC, type PortKey } from '../../src/shared/protocol/identity.js';

/** The `iss` of every token this controller signs. */
export const PORT_TOKEN_ISSUER = 'httpagent-controller';
/** A token's lifetime when the platform asks for none: long enough for one call, short if it leaks. */
export const PORT_TOKEN_DEFAULT_TTL_SEC = 60;
/** Keys published at once (the protocol's bound on portKeys). */
const MAX_KEYS = 8;

export interface SigningKey {
  privateKey: KeyObject;
  /** Its public half as agents receive it; `kid` is the RFC 7638 thumbprint. */
  jwk: PortKey;
}

/** RFC 7638: SHA-256 over the required members of an OKP key, in lexicographic order, no spaces. */
export function jwkThumbprint(jwk: { crv: string; kty: string; x: string }): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash('sha256').update(canonical).digest('base64url');
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * The keys in a PEM file of PKCS#8 Ed25519 private keys, in file order. `where` names the setting in
 * messages; a key is never quoted back.
 */
export function parseSigningKeys(pem: string, where: string): SigningKey[] {
  const blocks = [...pem.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new ConfigError(`${where}: no PEM block found (expected -----BEGIN PRIVATE KEY----- blocks of Ed25519 keys)`);
  if (blocks.length > MAX_KEYS) throw new ConfigError(`${where}: ${blocks.length} keys; at most ${MAX_KEYS} are published at once`);
  return blocks.map((m, i) => {
    // Only unencrypted PKCS#8: an encrypted key would need a passphrase the controller has no setting for.
    if (m[1] !== 'PRIVATE KEY') throw new ConfigError(`${where}: block ${i + 1} is "${m[1]}"; expected an unencrypted PKCS#8 "PRIVATE KEY"`);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: m[0], format: 'pem' });
    } catch (err) {
      throw new ConfigError(`${where}: block ${i + 1} is not a readable private key`, { cause: err });
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') {
      throw new ConfigError(`${where}: block ${i + 1} is a ${privateKey.asymmetricKeyType ?? 'non-asymmetric'} key; port tokens are signed with Ed25519 (openssl genpkey -algorithm ed25519)`);
    }
    const pub = createPublicKey(privateKey).export({ format: 'jwk' }) as { kty: 'OKP'; crv: 'Ed25519'; x: string };
    return { privateKey, jwk: { kty: 'OKP', crv: 'Ed25519', x: pub.x, kid: jwkThumbprint(pub) } };
  });
}

export interface PortTokenMinter {
  /** What agents are told at enrollment and registration: every key, the signing one first. */
  readonly portKeys: PortKey[];
  /** A token for `agentId` alone, valid `ttlSec` (≤ 300) from now. */
  mint(agentId: string, ttlSec?: number): Promise<{ token: string; expiresAt: number }>;
}

export function createPortTokenMinter(keys: readonly SigningKey[], now: () => number = Date.now): PortTokenMinter {
  const portKeys = keys.map((k) => k.jwk);
  return {
    portKeys,
    async mint(agentId, ttlSec = PORT_TOKEN_DEFAULT_TTL_SEC) {
      const signer = keys[0];
      if (!signer) throw new HttpAgentError('SIGNING_KEY_UNSET', 'this controller has no signingKeyFile, so it mints no port tokens');
      const iat = Math.floor(now() / 1000);
      const exp = iat + Math.min(ttlSec, PORT_TOKEN_MAX_TTL_SEC);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'EdDSA', kid: signer.jwk.kid, typ: 'JWT' })
        .setIssuer(PORT_TOKEN_ISSUER)
        .setAudience(agentId)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(signer.privateKey);
      return { token, expiresAt: exp * 1000 };
    },
  };
}
