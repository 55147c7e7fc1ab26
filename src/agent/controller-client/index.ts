// The agent's view of the controller: one transport, one object per resource.
import { agentsResource, type AgentsResource } from './agents.js';
import { claimsResource, type ClaimsResource } from './claims.js';
import { createControllerHttp, type ControllerHttp } from '../../shared/client/controller-http.js';
import { jobsResource, type JobsResource } from './jobs.js';
import { platformJobsResource, type PlatformJobsResource } from '../../shared/client/platform-jobs.js';

export { ControllerError, BadReplyError } from '../../shared/client/controller-http.js';
export type { SubmitReply, LogSlice, PlatformJobsResource } from '../../shared/client/platform-jobs.js';
export type { AgentView } from '../../shared/protocol/platform-api.js';

export interface ControllerClient {
  agents: AgentsResource;
  claims: ClaimsResource;
  jobs: JobsResource;
  /** Present when a platform token is configured. */
  platform: PlatformJobsResource | undefined;
  close(): Promise<void>;
}

export interface ControllerClientOptions {
  controllerUrl: string;
  agentToken: string;
  platformToken?: string | undefined;
  connections?: number;
}

export function createControllerClient(opts: ControllerClientOptions): ControllerClient {
  const http = createControllerHttp({ baseUrl: opts.controllerUrl, token: opts.agentToken, connections: opts.connections });
  let platformHttp: ControllerHttp | undefined;
  if (opts.platformToken) platformHttp = createControllerHttp({ baseUrl: opts.controllerUrl, token: opts.platformToken, connections: 4 });
  return {
    agents: agentsResource(http),
    claims: claimsResource(http),
    jobs: jobsResource(http),
    platform: platformHttp ? platformJobsResource(platformHttp) : undefined,
    close: async () => {
      await Promise.all([http.close(), platformHttp?.close()]);
    },
  };
}
