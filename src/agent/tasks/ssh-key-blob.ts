// The SSH public key wire format (RFC 4253 §6.6, RFC 5656, RFC 8709, OpenSSH PROTOCOL.u2f): a blob is
// only accepted when every field of its type is present, lengths add up to the last byte, and the key
// itself loads (an EC point on its curve, an RSA modulus of a usable size), so a truncated or padded
// blob never reaches authorized_keys.
import { createPublicKey } from 'node:crypto';

export const SSH_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
] as const;
export type SshKeyType = (typeof SSH_KEY_TYPES)[number];

export function isSshKeyType(s: string): s is SshKeyType {
  return (SSH_KEY_TYPES as readonly string[]).includes(s);
}

/** Why a blob was refused; the caller wraps it into its own error. */
export class SshKeyBlobError extends Error {
  override name = 'SshKeyBlobError';
}

const CURVES = {
  nistp256: { jwk: 'P-256', pointBytes: 65 },
  nistp384: { jwk: 'P-384', pointBytes: 97 },
  nistp521: { jwk: 'P-521', pointBytes: 133 },
} as const;

// OpenSSH refuses RSA keys under 1024 bits (SSH_RSA_MINIMUM_MODULUS_SIZE) and above 16384
// (SSHBUF_MAX_BIGNUM); accepting what sshd would ignore only hides a mistake.
const RSA_MIN_BITS = 1024;
const RSA_MAX_BITS = 16_384;
const MAX_APPLICATION = 1024;

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  /** A uint32 length and that many bytes; throws when the length runs past the end. */
  string(field: string): Buffer {
    if (this.buf.length - this.at < 4) throw new SshKeyBlobError(`key data is truncated before ${field}`);
    const len = this.buf.readUInt32BE(this.at);
    this.at += 4;
    if (len > this.buf.length - this.at) throw new SshKeyBlobError(`key data is truncated inside ${field}`);
    const out = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }
  /** A positive mpint in its minimal encoding (no spare leading zero, sign bit clear). */
  positiveMpint(field: string): Buffer {
    const b = this.string(field);
    if (b.length === 0 || (b[0]! & 0x80) !== 0) throw new SshKeyBlobError(`${field} is not a positive integer`);
    if (b[0] === 0 && (b.length === 1 || (b[1]! & 0x80) === 0)) throw new SshKeyBlobError(`${field} has a non-minimal encoding`);
    return b[0] === 0 ? b.subarray(1) : b;
  }
  end(): void {
    if (this.at !== this.buf.length) throw new SshKeyBlobError(`key data has ${this.buf.length - this.at} bytes after the key`);
  }
}

function bitLength(unsigned: Buffer): number {
  return unsigned.length === 0 ? 0 : (unsigned.length - 1) * 8 + (32 - Math.clz32(unsigned[0]!));
}

function loads(jwk: Record<string, string>, what: string): void {
  try {
    createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    throw new SshKeyBlobError(`${what} is not a valid key`);
  }
}

function ecdsa(r: Reader, curveName: string): void {
  const curve = r.string('the curve name').toString('latin1');
  if (curve !== curveName) throw new SshKeyBlobError(`key data names curve "${curve}", not "${curveName}"`);
  const c = CURVES[curveName as keyof typeof CURVES];
  const q = r.string('the EC point');
  // 0x04: the uncompressed form, the only one OpenSSH writes.
  if (q.length !== c.pointBytes || q[0] !== 0x04) throw new SshKeyBlobError(`the EC point is not an uncompressed ${curveName} point`);
  const half = (q.length - 1) / 2;
  loads({ kty: 'EC', crv: c.jwk, x: q.subarray(1, 1 + half).toString('base64url'), y: q.subarray(1 + half).toString('base64url') }, 'the EC point');
}

function ed25519(r: Reader): void {
  if (r.string('the Ed25519 key').length !== 32) throw new SshKeyBlobError('an Ed25519 key is 32 bytes');
}

function application(r: Reader): void {
  const app = r.string('the security key application');
  if (app.length === 0 || app.length > MAX_APPLICATION || !/^[\x21-\x7e]+$/.test(app.toString('latin1'))) {
    throw new SshKeyBlobError('the security key application is not a printable string');
  }
}

/**
 * Checks that `blob` is a complete public key of `type`: the embedded type string equals `type`, every
 * field is there, nothing follows the last one. Throws SshKeyBlobError with the first problem found.
 */
export function checkSshKeyBlob(type: SshKeyType, blob: Buffer): void {
  const r = new Reader(blob);
  const embedded = r.string('the key type').toString('latin1');
  if (embedded !== type) throw new SshKeyBlobError(`key data is a "${embedded.slice(0, 64)}" key, not "${type}"`);
  switch (type) {
    case 'ssh-ed25519':
      ed25519(r);
      break;
    case 'sk-ssh-ed25519@openssh.com':
      ed25519(r);
      application(r);
      break;
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
      ecdsa(r, type.slice('ecdsa-sha2-'.length));
      break;
    case 'sk-ecdsa-sha2-nistp256@openssh.com':
      ecdsa(r, 'nistp256');
      application(r);
      break;
    case 'ssh-rsa': {
      const e = r.positiveMpint('the RSA exponent');
      const n = r.positiveMpint('the RSA modulus');
      const bits = bitLength(n);
      if (bits < RSA_MIN_BITS || bits > RSA_MAX_BITS) throw new SshKeyBlobError(`an RSA modulus of ${bits} bits is outside ${RSA_MIN_BITS}..${RSA_MAX_BITS}`);
      if (e.length > 8 || (e[e.length - 1]! & 1) === 0 || bitLength(e) < 2) throw new SshKeyBlobError('the RSA exponent is not a small odd number');
      loads({ kty: 'RSA', n: n.toString('base64url'), e: e.toString('base64url') }, 'the RSA key');
      break;
    }
  }
  r.end();
}
