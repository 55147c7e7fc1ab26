// The agent's credential as the monitor uses it: read from the agent's state directory when first
// needed (the monitor may start before the agent has enrolled) and again after the controller refused
// it (the agent may have enrolled anew).
import { readCredential, type StoredCredential } from '../shared/credential-file.js';
import { HttpAgentError } from '../shared/errors.js';

export interface MonitorCredential {
  /** The credential, or a NOT_ENROLLED error (retryable: samples stay buffered) saying why there is none. */
  current(): StoredCredential;
  /** Read the file again before the next call. */
  invalidate(): void;
}

export function createMonitorCredential(stateDir: string): MonitorCredential {
  let cached: StoredCredential | undefined;
  return {
    current() {
      if (cached) return cached;
      let found: StoredCredential | undefined;
      try {
        found = readCredential(stateDir);
      } catch (err) {
        throw new HttpAgentError('NOT_ENROLLED', (err as Error).message, { cause: err });
      }
      if (!found) throw new HttpAgentError('NOT_ENROLLED', `no credential in ${stateDir} yet: the agent on this host has not enrolled`);
      cached = found;
      return found;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
