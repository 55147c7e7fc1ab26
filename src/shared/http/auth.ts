// Bearer platform-token check in constant time: both sides hashed to equal-length SHA-256 digests first,
// so neither the token's content nor its length leaks through timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../errors.js';

export function createTokenCheck(token: string): (authorization: string | undefined) => void {
  const expected = createHash('sha256').update(token, 'utf8').digest();
  return (authorization) => {
    const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization ?? '');
    const given = createHash('sha256').update(m?.[1] ?? '', 'utf8').digest();
    // Compare even when the header is missing so every rejection costs the same.
    if (!timingSafeEqual(given, expected) || !m) throw new UnauthorizedError();
  };
}
