// Enrollment: the one call an agent makes with the enrollment token instead of its credential, so it
// has a transport of its own that lives for that call only.
import { createControllerHttp } from '../../shared/client/controller-http.js';
import { agentApiPaths } from '../../shared/protocol/agent-api.js';
import { enrollResponseSchema, type EnrollResponse } from '../../shared/protocol/identity.js';

export type EnrollFn = (agentId: string, enrollToken: string, signal?: AbortSignal) => Promise<EnrollResponse>;

/** POST /v1/agent/enroll at `controllerUrl`; 201 with the credential, or a ControllerError. */
export function enrollWith(controllerUrl: string): EnrollFn {
  return async (agentId, enrollToken, signal) => {
    const http = createControllerHttp({ baseUrl: controllerUrl, token: enrollToken, connections: 1 });
    try {
      return await http.call(agentApiPaths.enroll, enrollResponseSchema, { json: { agentId }, signal });
    } finally {
      await http.close().catch(() => undefined);
    }
  };
}
