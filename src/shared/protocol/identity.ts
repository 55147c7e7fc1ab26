// Who may call what: the per-agent credential the controller mints at enrollment, and the short-lived
// port token the platform presents to one agent. Both sides validate with these schemas.
import { z } from 'zod';
import { agentIdSchema as agentId } from './ids.js';

/**
 * A per-agent credential: `ha1:<agentId>:<secret>`, the secret 32 random bytes in base64url. The agent id
 * rides in the clear so the controller finds the one record to check without a scan; agent ids never
 * hold ':' and base64url never does, so the split is unambiguous. The controller keeps only a SHA-256 of
 * the secret.
 */
export const CREDENTIAL_SCHEME = 'ha1';

export function formatCredential(id: string, secret: string): string {
  return `${CREDENTIAL_SCHEME}:${id}:${secret}`;
}

/** The agent id and secret of a credential, or undefined when it is not one (any other bearer token). */
export function parseCredential(token: string): { agentId: string; secret: string } | undefined {
  const parts = token.split(':');
  if (parts.length !== 3 || parts[0] !== CREDENTIAL_SCHEME) return undefined;
  const [, id, secret] = parts as [string, string, string];
  if (!agentId.safeParse(id).success || !/^[A-Za-z0-9_-]{43}$/.test(secret)) return undefined;
  return { agentId: id, secret };
}

/** An Ed25519 public key as a JWK, as the controller publishes its port-token signing keys. */
export const portKeySchema = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  kid: z.string().min(1).max(64),
});
export type PortKey = z.infer<typeof portKeySchema>;

/** POST /v1/agent/enroll, bearer an enrollment token. */
export const enrollRequestSchema = z.strictObject({ agentId });
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;

export const enrollResponseSchema = z.object({
  agentId,
  /** Shown once: the controller keeps only its hash. */
  credential: z.string(),
  issuedAt: z.number().int(),
  /** The keys port tokens are signed with; the first signs, the others are still accepted (rotation). */
  portKeys: z.array(portKeySchema).max(8),
});
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;

/** POST /v1/agents/:id/token (platform): a port token for that one agent. */
export const portTokenRequestSchema = z.strictObject({
  /** Lifetime; at most 300 s, which is also the most an agent accepts. */
  ttlSec: z.number().int().min(10).max(300).optional(),
});
export const portTokenResponseSchema = z.object({ token: z.string(), expiresAt: z.number().int() });
export type PortTokenResponse = z.infer<typeof portTokenResponseSchema>;

/** The longest a port token may live, from its issue to its expiry, as the agent enforces it. */
export const PORT_TOKEN_MAX_TTL_SEC = 300;
/** Clock skew an agent forgives between its clock and the signer's. */
export const PORT_TOKEN_CLOCK_TOLERANCE_SEC = 30;

/** What GET /v1/agents shows of an agent's credential (never the credential itself). */
export const credentialInfoSchema = z.object({ issuedAt: z.number().int(), lastUsedAt: z.number().int().nullable() });
export type CredentialInfo = z.infer<typeof credentialInfoSchema>;
