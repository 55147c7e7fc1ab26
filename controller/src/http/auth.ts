// Bearer-token checks in constant time: both sides hashed to equal-length digests, then timingSafeEqual,
// so neither the token's content nor its length leaks through response timing.
import { createHash, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../../../src/shared/errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export type TokenCheck = (authorization: string | undefined) => void;

export function bearerCheck(token: string): TokenCheck {
  const expected = digest(token);
  return (authorization) => {
    const m = authorization ? /^Bearer\s+(\S+)\s*$/i.exec(authorization) : null;
    if (!m || !timingSafeEqual(digest(m[1]!), expected)) throw new UnauthorizedError();
  };
}
