// Validating a submitted SSH public key for authorized_keys: one known key type, strict canonical base64
// whose blob is a complete key of that type (ssh-key-blob.ts), an optional plain comment, nothing else
// (no options, no second line).
import { createHash } from 'node:crypto';
import { HttpAgentError } from '../../shared/errors.js';
import { checkSshKeyBlob, isSshKeyType, SSH_KEY_TYPES, SshKeyBlobError, type SshKeyType } from './ssh-key-blob.js';

export { SSH_KEY_TYPES, type SshKeyType };

export class InvalidSshKeyError extends HttpAgentError {
  override name = 'InvalidSshKeyError';
  constructor(reason: string) {
    super('INVALID_SSH_KEY', `invalid SSH public key: ${reason}`);
  }
}

export interface SshPublicKey {
  type: SshKeyType;
  /** The key blob as canonical base64, as it appears in authorized_keys. */
  base64: string;
  /** The decoded blob: what keys are compared by. */
  blob: Buffer;
  comment: string;
  /** `SHA256:...` as ssh-keygen -l prints it. */
  fingerprint: string;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const COMMENT = /^[\x20-\x7e]{0,256}$/;

export function parseSshPublicKey(input: string): SshPublicKey {
  // `cat id_ed25519.pub` ends in one newline; that one is the end of the line, not a second line.
  const line = input.endsWith('\n') ? input.slice(0, -1) : input;
  // Any other line break would let a caller append a second, unchecked line (with options) to authorized_keys.
  if (/[\r\n\0]/.test(line)) throw new InvalidSshKeyError('must be a single line');
  const fields = line.trim().split(/[ \t]+/);
  const [type, b64, ...rest] = fields;
  if (!type || !isSshKeyType(type)) {
    // authorized_keys lines may start with options (command="...", from=...); we never accept them.
    const looksLikeOptions = fields.slice(1).some(isSshKeyType);
    throw new InvalidSshKeyError(looksLikeOptions ? 'options before the key type are not accepted' : `key type must be one of ${SSH_KEY_TYPES.join(', ')}`);
  }
  if (!b64 || !BASE64.test(b64) || b64.length % 4 !== 0) throw new InvalidSshKeyError('key data is not valid base64');
  const blob = Buffer.from(b64, 'base64');
  // Canonical base64 only: re-encoding must give back the same text (no stray padding bits).
  if (blob.toString('base64') !== b64) throw new InvalidSshKeyError('key data is not canonical base64');
  try {
    checkSshKeyBlob(type, blob);
  } catch (err) {
    if (err instanceof SshKeyBlobError) throw new InvalidSshKeyError(err.message);
    throw err;
  }
  const comment = rest.join(' ');
  if (!COMMENT.test(comment)) throw new InvalidSshKeyError('comment must be printable ASCII, at most 256 characters');
  const fingerprint = 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
  return { type, base64: b64, blob, comment, fingerprint };
}

/** The line written to authorized_keys. */
export function authorizedKeyLine(k: SshPublicKey): string {
  return k.comment ? `${k.type} ${k.base64} ${k.comment}` : `${k.type} ${k.base64}`;
}
