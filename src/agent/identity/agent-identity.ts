// Who this agent is to the controller: the credential in <stateDir>/credential, obtained once by
// enrolling with an enrollment token, which is then deleted from the host (it would enroll any id).
import { readFileSync, unlinkSync } from 'node:fs';
import { credentialPath, readCredential, writeCredential, type StoredCredential } from '../../shared/credential-file.js';
import { ConfigError } from '../../shared/errors.js';
import type { Logger } from '../../shared/log.js';
import { RETRY, decide, unauthorized } from '../../shared/retry-policy.js';
import { withRetry } from '../../shared/retry.js';
import { parseCredential } from '../../shared/protocol/identity.js';
import type { EnrollFn } from '../controller-client/enroll.js';
import type { PortKeyRing } from './port-key-ring.js';

/** Where the enrollment token comes from: a file (install.sh) or HTTPAGENT_ENROLL_TOKEN (development). */
export type EnrollTokenSource = { kind: 'file'; file: string } | { kind: 'env'; token: string };

export interface IdentitySettings {
  agentId: string;
  stateDir: string;
  enrollTokenFile?: string | undefined;
  enrollToken?: string | undefined;
}

/**
 * The credential already on disk, or where the token to enroll with will come from. Throws ConfigError
 * (the agent exits 2 with that line) when the credential is another agent's or cannot be trusted, or
 * when there is neither a credential nor a way to get one.
 */
export function startingIdentity(s: IdentitySettings): { credential: StoredCredential } | { enrollWith: EnrollTokenSource } {
  const credential = readCredential(s.stateDir);
  if (credential) {
    if (credential.agentId !== s.agentId) {
      throw new ConfigError(
        `${credentialPath(s.stateDir)} is agent "${credential.agentId}"'s credential, but this agent's id is "${s.agentId}" (agentId / HTTPAGENT_AGENT_ID): set agentId to "${credential.agentId}", or remove the file to enroll as "${s.agentId}"`,
      );
    }
    return { credential };
  }
  if (s.enrollToken !== undefined) return { enrollWith: { kind: 'env', token: s.enrollToken } };
  if (s.enrollTokenFile !== undefined) return { enrollWith: { kind: 'file', file: s.enrollTokenFile } };
  throw new ConfigError(
    `this agent has not enrolled (${credentialPath(s.stateDir)} does not exist) and has no enrollment token: set enrollTokenFile to a file holding one (or HTTPAGENT_ENROLL_TOKEN in development)`,
  );
}

export interface AgentIdentity {
  /** The credential's bearer value; '' until enrolled (a call then fails 401 and is retried). */
  bearer(): string;
  readonly enrolled: boolean;
  /** Enrolls unless a credential exists; retries until it works or `signal` aborts (then it rejects). */
  ensure(signal: AbortSignal): Promise<StoredCredential>;
}

export interface AgentIdentityDeps {
  enroll: EnrollFn;
  keys: PortKeyRing;
  logger: Logger;
}

const TOKEN = /^[\x21-\x7e]{16,512}$/;

/** Reads the token afresh on each try: an operator who fixes the file fixes the agent, no restart. */
function readToken(source: EnrollTokenSource): string {
  if (source.kind === 'env') return source.token;
  let text: string;
  try {
    text = readFileSync(source.file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`enrollTokenFile ${source.file}: ${(err as Error).message}`, { cause: err });
  }
  if (!TOKEN.test(text)) throw new ConfigError(`enrollTokenFile ${source.file} does not hold a token (16-512 printable characters without spaces)`);
  return text;
}

export function createAgentIdentity(settings: IdentitySettings, deps: AgentIdentityDeps): AgentIdentity {
  const log = deps.logger.child({ component: 'identity' });
  const start = startingIdentity(settings);
  let credential = 'credential' in start ? start.credential : undefined;
  const source = 'enrollWith' in start ? start.enrollWith : undefined;
  let pending: Promise<StoredCredential> | undefined;
  const where = (s: EnrollTokenSource) => (s.kind === 'file' ? `enrollTokenFile ${s.file}` : 'HTTPAGENT_ENROLL_TOKEN');

  const forgetTokenFile = () => {
    const file = settings.enrollTokenFile;
    if (file === undefined) return;
    try {
      unlinkSync(file);
      log.info({ file }, 'enrollment token file deleted: this host keeps only its own credential');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      log.warn({ file, code }, 'cannot delete the enrollment token file; delete it by hand: it would enroll any agent id');
    }
  };
  // Enrolled on an earlier start, and the token is back (install.sh ran again): it goes again.
  if (credential) forgetTokenFile();

  const enroll = async (source: EnrollTokenSource, signal: AbortSignal): Promise<StoredCredential> => {
    const reply = await withRetry(
      async () => {
        const token = readToken(source);
        return deps.enroll(settings.agentId, token, signal);
      },
      {
        backoff: RETRY.enroll.backoff,
        signal,
        judge: (err, attempt) => {
          const loud = attempt === 0 || attempt % 10 === 0;
          const code = (err as { code?: string }).code;
          if (decide(err) === 'retry' && code !== 'AGENT_ENROLLED') {
            if (loud) log.warn({ err, attempt }, 'cannot reach the controller to enroll; retrying');
            return 'retry';
          }
          // Refusals wait for an operator: say what to fix, then try again slowly.
          if (loud) {
            if (err instanceof ConfigError) log.error({ attempt }, `${err.message}; retrying`);
            else if (unauthorized(err)) log.error({ attempt }, `the controller refused the enrollment token from ${where(source)}: put a current enrollment token there; retrying`);
            else if (code === 'AGENT_ENROLLED')
              log.error(
                { attempt },
                `agent id "${settings.agentId}" already holds a credential at the controller, but ${credentialPath(settings.stateDir)} is missing: restore that file, or have the platform revoke the id (DELETE /v1/agents/${settings.agentId}) so it can enroll again; retrying`,
              );
            else log.error({ err, attempt }, 'enrollment refused; retrying');
          }
          return { retry: RETRY.enrollRefused.backoff };
        },
      },
    );
    if (reply.agentId !== settings.agentId || parseCredential(reply.credential)?.agentId !== settings.agentId) {
      throw new Error(`the controller enrolled "${reply.agentId}" when asked for "${settings.agentId}"`);
    }
    const stored = writeCredential(settings.stateDir, reply.credential);
    await deps.keys.update(reply.portKeys);
    log.info({ agentId: stored.agentId, file: credentialPath(settings.stateDir) }, 'enrolled: credential saved');
    if (source.kind === 'file') forgetTokenFile();
    return stored;
  };

  return {
    bearer: () => credential?.bearer ?? '',
    get enrolled() {
      return credential !== undefined;
    },
    ensure(signal) {
      if (credential || !source) return Promise.resolve(credential!); // startingIdentity gave one or the other
      pending ??= enroll(source, signal)
        .then((c) => (credential = c))
        .finally(() => {
          pending = undefined;
        });
      return pending;
    },
  };
}
