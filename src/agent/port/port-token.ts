// Checks the port token a caller presents: an EdDSA JWT for this one agent, short-lived, signed by a
// key in the ring. The port holds no secret, so a host that is taken over yields nothing that opens
// another host's port.
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { UnauthorizedError } from '../../shared/errors.js';
import { PORT_TOKEN_CLOCK_TOLERANCE_SEC, PORT_TOKEN_MAX_TTL_SEC } from '../../shared/protocol/identity.js';
import type { PortKeyRing } from '../identity/port-key-ring.js';

/** `Bearer <token>`: the scheme case-insensitive (RFC 9110), one token of visible characters. */
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
/** Three base64url parts: anything else is refused before a parser sees it. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface PortTokenCheckOptions {
  agentId: string;
  keys: PortKeyRing;
  /** Seconds since the epoch; tests move the clock. */
  nowSec?: () => number;
}

/** Resolves with the token's claims, or rejects with UnauthorizedError (401) saying what was wrong. */
export type PortTokenCheck = (authorization: string | undefined) => Promise<JWTPayload>;

/**
 * Tokens already verified, each until it expires. A platform mints a token and makes a series of calls
 * with it: the signature is checked once (WebCrypto work on libuv's small thread pool, shared with file
 * I/O), and a burst with one token waits on that one check. A failure is not kept: the next try is
 * checked afresh.
 */
const CACHE_MAX = 1024;

export function createPortTokenCheck(opts: PortTokenCheckOptions): PortTokenCheck {
  const nowSec = opts.nowSec ?? (() => Math.floor(Date.now() / 1000));
  const refuse = (why: string) => new UnauthorizedError(`port token refused: ${why}`);
  const verified = new Map<string, Promise<JWTPayload>>();
  let generation = opts.keys.generation;

  const verify = async (token: string): Promise<JWTPayload> => {
    if (!COMPACT_JWS.test(token)) throw refuse('not a signed JWT');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw refuse('not a signed JWT');
    }
    // Only EdDSA: an HS256 token "signed" with a public key, or alg none, never gets as far as a key.
    if (header.alg !== 'EdDSA') throw refuse(`algorithm ${JSON.stringify(header.alg ?? null)} is not EdDSA`);
    const candidates = opts.keys.candidates(typeof header.kid === 'string' ? header.kid : undefined);
    if (candidates.length === 0) throw refuse(opts.keys.size === 0 ? 'this agent has no port keys yet (it has not enrolled)' : 'signed by a key this agent does not know');

    let payload: JWTPayload | undefined;
    for (const { key } of candidates) {
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['EdDSA'],
          audience: opts.agentId,
          clockTolerance: PORT_TOKEN_CLOCK_TOLERANCE_SEC,
          requiredClaims: ['exp'],
          currentDate: new Date(nowSec() * 1000),
        }));
        break;
      } catch (err) {
        if (err instanceof joseErrors.JWSSignatureVerificationFailed) continue; // another key of the ring may have signed it
        if (err instanceof joseErrors.JWTExpired) throw refuse('expired');
        if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'aud') throw refuse(`issued for another agent, not ${opts.agentId}`);
        throw refuse(err instanceof joseErrors.JOSEError ? err.code : 'malformed');
      }
    }
    if (!payload) throw refuse('bad signature');
    // A leaked token must be short-lived by construction, not only by the signer's good will.
    const exp = payload.exp!;
    const longest = payload.iat === undefined ? exp - nowSec() - PORT_TOKEN_CLOCK_TOLERANCE_SEC : exp - payload.iat;
    if (longest > PORT_TOKEN_MAX_TTL_SEC) throw refuse(`lives longer than ${PORT_TOKEN_MAX_TTL_SEC} s`);
    return payload;
  };

  return async (authorization) => {
    const token = BEARER.exec(authorization ?? '')?.[1];
    if (!token) throw refuse(`none given; ask the controller for one (POST /v1/agents/${opts.agentId}/token)`);
    if (opts.keys.generation !== generation) {
      verified.clear(); // a key was dropped (rotation): nothing it verified stands
      generation = opts.keys.generation;
    }
    let pending = verified.get(token);
    if (!pending) {
      pending = verify(token);
      if (verified.size >= CACHE_MAX) verified.delete(verified.keys().next().value!);
      verified.set(token, pending);
      pending.catch(() => verified.delete(token));
    }
    const payload = await pending;
    // Kept past its expiry it is refused like any expired token, and forgotten.
    if (payload.exp! + PORT_TOKEN_CLOCK_TOLERANCE_SEC < nowSec()) {
      verified.delete(token);
      throw refuse('expired');
    }
    return payload;
  };
}
