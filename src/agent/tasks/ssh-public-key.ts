// Validating an SSH public key for authorized_keys: one known key type, strict base64 whose embedded
// type string matches, an optional plain comment, and nothing else (no options, no second line).
import { createHash } from 'node:crypto';
import { HttpAgentError } from '../../shared/errors.js';

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

export class InvalidSshKeyError extends HttpAgentError {
  override name = 'InvalidSshKeyError';
  constructor(reason: string) {
    super('INVALID_SSH_KEY', `invalid SSH public key: ${reason}`);
  }
}

export interface SshPublicKey {
  type: SshKeyType;
  /** The key blob as base64, as it appears in authorized_keys. */
  base64: string;
  comment: string;
  /** `SHA256:...` as ssh-keygen -l prints it. */
  fingerprint: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const COMMENT = /^[\x20-\x7e]{0,256}$/;

export function parseSshPublicKey(input: string): SshPublicKey {
  // A newline would let a caller append a second, unchecked line (with options) to authorized_keys.
  if (/[\r\n\0]/.test(input)) throw new InvalidSshKeyError('must be a single line');
  const fields = input.trim().split(/[ \t]+/);
  const [type, b64, ...rest] = fields;
  if (!type || !(SSH_KEY_TYPES as readonly string[]).includes(type)) {
    // authorized_keys lines may start with options (command="...", from=...); we never accept them.
    const looksLikeOptions = fields.slice(1).some((f) => (SSH_KEY_TYPES as readonly string[]).includes(f));
    throw new InvalidSshKeyError(looksLikeOptions ? 'options before the key type are not accepted' : `key type must be one of ${SSH_KEY_TYPES.join(', ')}`);
  }
  if (!b64 || !BASE64.test(b64) || b64.length % 4 !== 0) throw new InvalidSshKeyError('key data is not valid base64');
  const blob = Buffer.from(b64, 'base64');
  // Canonical base64 only: re-encoding must give back the same text (no stray padding bits).
  if (blob.toString('base64') !== b64) throw new InvalidSshKeyError('key data is not canonical base64');
  if (blob.length < 4) throw new InvalidSshKeyError('key data too short');
  const typeLen = blob.readUInt32BE(0);
  if (typeLen > 64 || 4 + typeLen >= blob.length) throw new InvalidSshKeyError('key data has a malformed type field');
  const embedded = blob.subarray(4, 4 + typeLen).toString('latin1');
  if (embedded !== type) throw new InvalidSshKeyError(`key data is a "${embedded}" key, not "${type}"`);
  const comment = rest.join(' ');
  if (!COMMENT.test(comment)) throw new InvalidSshKeyError('comment must be printable ASCII, at most 256 characters');
  const fingerprint = 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  return { type: type as SshKeyType, base64: b64, comment, fingerprint };
}

/** The line written to authorized_keys. */
export function authorizedKeyLine(k: SshPublicKey): string {
  return k.comment ? `${k.type} ${k.base64} ${k.comment}` : `${k.type} ${k.base64}`;
}

/**
 * Whether an existing authorized_keys line holds the same key (type + base64), whatever its options or
 * comment: the key is found as a known type followed by its base64 anywhere in the line.
 */
export function lineHasKey(line: string, k: Pick<SshPublicKey, 'type' | 'base64'>): boolean {
  const t = line.trim();
  if (t === '' || t.startsWith('#')) return false;
  const fields = t.split(/[ \t]+/);
  for (let i = 0; i + 1 < fields.length; i++) {
    if (fields[i] === k.type && fields[i + 1] === k.base64) return true;
  }
  return false;
}
