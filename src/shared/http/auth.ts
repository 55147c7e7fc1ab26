// The bearer-token check of every HTTP server (agent port, controller) in constant time: both sides are
// hashed to equal-length SHA-256 digests first, so neither the token's content nor its length leaks
// through timing, and a missing header costs the same as a wrong one.
import { createHash, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../errors.js';

/** `Bearer <token>`: the scheme case-insensitive (RFC 9110), one token of visible characters. */
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

export type TokenCheck = (authorization: string | undefined) => void;

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Whether `given` is `token`, in constant time (the dashboard's sign-in compares a token from a body). */
export function createTokenMatcher(token: string): (given: string) => boolean {
  const expected = digest(token);
  return (given) => timingSafeEqual(digest(given), expected);
}

/** The token of an `Authorization: Bearer` header, undefined when there is none. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return BEARER.exec(authorization ?? '')?.[1];
}

/** A check that throws UnauthorizedError (401) unless the header carries `token`. */
export function createTokenCheck(token: string): TokenCheck {
  const matches = createTokenMatcher(token);
  return (authorization) => {
    const given = bearerToken(authorization);
    if (!matches(given ?? '') || given === undefined) throw new UnauthorizedError();
  };
}
