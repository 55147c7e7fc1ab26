// SSH public keys for tests: fresh key pairs from node:crypto written in the SSH wire format, and the
// wire format's pieces for building broken blobs on purpose.
import { generateKeyPairSync } from 'node:crypto';
import type { SshKeyType } from '../../src/agent/tasks/ssh-key-blob.js';

/** uint32 length + bytes. */
export function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

/** An unsigned big-endian integer as an mpint: minimal, with a 0 byte when the high bit is set. */
export function sshMpint(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  const v = unsigned.subarray(i);
  return sshString(v[0]! & 0x80 ? Buffer.concat([Buffer.of(0), v]) : v);
}

const jwk = (k: { export(o: { format: 'jwk' }): unknown }) => k.export({ format: 'jwk' }) as Record<string, string>;
const b64u = (s: string) => Buffer.from(s, 'base64url');

/** The blob of a freshly generated key of `type`. */
export function newKeyBlob(type: SshKeyType, rsaBits = 1024): Buffer {
  switch (type) {
    case 'ssh-ed25519':
    case 'sk-ssh-ed25519@openssh.com': {
      const { publicKey } = generateKeyPairSync('ed25519');
      const parts = [sshString(type), sshString(b64u(jwk(publicKey).x!))];
      if (type.startsWith('sk-')) parts.push(sshString('ssh:'));
      return Buffer.concat(parts);
    }
    case 'ecdsa-sha2-nistp256':
    case 'ecdsa-sha2-nistp384':
    case 'ecdsa-sha2-nistp521':
    case 'sk-ecdsa-sha2-nistp256@openssh.com': {
      const curve = type.startsWith('sk-') ? 'nistp256' : type.slice('ecdsa-sha2-'.length);
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: `P-${curve.slice('nistp'.length)}` });
      const { x, y } = jwk(publicKey);
      const parts = [sshString(type), sshString(curve), sshString(Buffer.concat([Buffer.of(4), b64u(x!), b64u(y!)]))];
      if (type.startsWith('sk-')) parts.push(sshString('ssh:'));
      return Buffer.concat(parts);
    }
    case 'ssh-rsa': {
      const { publicKey } = generateKeyPairSync('rsa', { modulusLength: rsaBits });
      const { n, e } = jwk(publicKey);
      return Buffer.concat([sshString(type), sshMpint(b64u(e!)), sshMpint(b64u(n!))]);
    }
  }
}

/** `type base64` of a fresh key, with ` comment` when given. */
export function newPublicKey(type: SshKeyType = 'ssh-ed25519', comment?: string): string {
  const line = `${type} ${newKeyBlob(type).toString('base64')}`;
  return comment ? `${line} ${comment}` : line;
}
