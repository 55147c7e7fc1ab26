// What the agent and its authorize helper (a child process running as the target user) say to each
// other: one JSON object per line each way. The agent parses every reply with these schemas because the
// user the helper runs as can signal, trace or impersonate it.
import { z } from 'zod';
import { HttpAgentError, type ErrorCode } from '../../shared/errors.js';

export const helperRequestSchema = z.strictObject({
  id: z.number().int().min(0),
  op: z.enum(['add', 'remove']),
  /** The home directory from the passwd entry. */
  home: z.string().min(1).max(4096).startsWith('/').refine((s) => !s.includes('\0'), 'home must not contain NUL'),
  /** One key as parseSshPublicKey accepts it; the helper parses it again. */
  publicKey: z.string().min(1).max(16_384),
});
export type HelperRequest = z.infer<typeof helperRequestSchema>;

/**
 * The refusals the helper may answer, with their HTTP status. The status is taken from here, never
 * from the reply, so an impersonated helper cannot choose how the agent answers.
 * HOME_MISSING: the home is not a directory · UNSAFE_HOME: the home belongs to someone else ·
 * UNSAFE_SSH_DIR: ~/.ssh or authorized_keys is a symlink, not a plain directory/file, not the user's,
 * hard-linked or oversized · INVALID_SSH_KEY: the key did not parse · AUTHORIZE_FAILED: anything else.
 */
export const HELPER_ERRORS = ['HOME_MISSING', 'UNSAFE_HOME', 'UNSAFE_SSH_DIR', 'INVALID_SSH_KEY', 'AUTHORIZE_FAILED'] as const satisfies readonly ErrorCode[];
export type HelperErrorCode = (typeof HELPER_ERRORS)[number];

export const helperReplySchema = z.discriminatedUnion('ok', [
  z.strictObject({ id: z.number().int(), ok: z.literal(true), status: z.enum(['added', 'present', 'removed', 'absent']) }),
  z.strictObject({
    id: z.number().int(),
    ok: z.literal(false),
    code: z.enum(HELPER_ERRORS),
    message: z.string().max(2048),
  }),
]);
export type HelperReply = z.infer<typeof helperReplySchema>;

/** A refusal raised inside the helper; the agent turns the reply back into an HttpAgentError. */
export function helperError(code: HelperErrorCode, message: string): HttpAgentError {
  return new HttpAgentError(code, message);
}
