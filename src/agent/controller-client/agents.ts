// Agent resource: register and the heartbeat that also renews every lease in one call.
import { agentApiPaths, heartbeatResponseSchema, registerResponseSchema, type HeartbeatRequest, type HeartbeatResponse, type RegisterRequest, type RegisterResponse } from '../../shared/protocol/agent-api.js';
import type { ControllerHttp } from '../../shared/client/controller-http.js';

export interface AgentsResource {
  register(req: RegisterRequest, signal?: AbortSignal): Promise<RegisterResponse>;
  heartbeat(req: HeartbeatRequest, signal?: AbortSignal, timeoutMs?: number): Promise<HeartbeatResponse>;
}

export function agentsResource(http: ControllerHttp): AgentsResource {
  return {
    register: (req, signal) => http.call(agentApiPaths.register, registerResponseSchema, { json: req, signal }),
    heartbeat: (req, signal, timeoutMs = 10_000) => http.call(agentApiPaths.heartbeat, heartbeatResponseSchema, { json: req, signal, timeoutMs }),
  };
}
