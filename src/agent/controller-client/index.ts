// The agent's view of the controller: one transport carrying the agent's credential (HTTP, with the
// agent channel for claims and completes while it is open), one object per resource, and one place that
// notices the credential was revoked.
import { agentsResource, type AgentsResource } from './agents.js';
import { createAgentChannel, overChannel } from './channel.js';
import { claimsResource, type ClaimsResource } from './claims.js';
import { createControllerHttp, type ControllerHttp } from '../../shared/client/controller-http.js';
import type { Logger } from '../../shared/log.js';
import { credentialRevoked } from '../../shared/retry-policy.js';
import { jobsResource, type JobsResource } from './jobs.js';
import { ownJobsResource, type OwnJobsResource } from './own-jobs.js';
import { releasesResource, type ReleasesResource } from './releases.js';

export { ControllerError, BadReplyError } from '../../shared/client/controller-http.js';
export type { SubmitReply } from '../../shared/client/platform-jobs.js';

export interface ControllerClient {
  agents: AgentsResource;
  claims: ClaimsResource;
  jobs: JobsResource;
  /** Jobs this agent queues for itself. */
  own: OwnJobsResource;
  /** The release channel (bundle self-update). */
  releases: ReleasesResource;
  close(): Promise<void>;
}

export interface ControllerClientOptions {
  controllerUrl: string;
  /** The agent's credential (`ha1:...`), asked before each call: the agent may enroll after the client exists. */
  credential: () => string;
  connections?: number;
  /** Told of every reply saying the credential was revoked (the agent stops claiming on the first). */
  onRevoked?: (err: unknown) => void;
  /** Claims and completes over the agent channel (channel.ts) while the controller keeps one open; HTTP otherwise. */
  channel?: { logger: Logger; refusedRetryMs?: number; onOpen?: (open: boolean) => void; onCall?: (transport: 'channel' | 'http') => void };
}

export function createControllerClient(opts: ControllerClientOptions): ControllerClient {
  const plain = createControllerHttp({ baseUrl: opts.controllerUrl, token: opts.credential, connections: opts.connections });
  const channel = opts.channel ? createAgentChannel({ controllerUrl: opts.controllerUrl, credential: opts.credential, ...opts.channel }) : undefined;
  const inner = channel ? overChannel(plain, channel, opts.channel?.onCall) : plain;
  const watch = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => {
      if (credentialRevoked(err)) opts.onRevoked?.(err);
      throw err;
    });
  const http: ControllerHttp = {
    call: (path, schema, o) => watch(inner.call(path, schema, o)),
    raw: (path, o) => watch(inner.raw(path, o)),
    close: () => {
      channel?.close();
      return inner.close();
    },
  };
  return {
    agents: agentsResource(http),
    claims: claimsResource(http),
    jobs: jobsResource(http),
    own: ownJobsResource(http),
    releases: releasesResource(http, { controllerUrl: opts.controllerUrl, credential: opts.credential }),
    close: () => http.close(),
  };
}
