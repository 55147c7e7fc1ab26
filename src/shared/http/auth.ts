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

/** The token of a `Bearer <token>` header, or undefined when the header is missing or malformed. */
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

/**
 * A check that passes when the header carries any of `tokens` (several accepted at once: rotation).
 * Every token is compared, whichever matches, so the time taken does not say which one did; with no
 * tokens nothing passes.
 */
export function createTokenListCheck(tokens: readonly string[]): TokenCheck {
  const expected = tokens.map(digest);
  return (authorization) => {
    const m = BEARER.exec(authorization ?? '');
    const given = digest(m?.[1] ?? '');
    let ok = false;
    for (const e of expected) ok = timingSafeEqual(given, e) || ok;
    if (!ok || !m) throw new UnauthorizedError();
  };
}
