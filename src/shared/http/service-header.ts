// Every reply of an httpagent server names the server (x-httpagent-service: controller | agent), errors
// and 404s included, so a client given the wrong port says so instead of misreading the reply.
import type { FastifyInstance } from 'fastify';
import { SERVICE_HEADER, type ServiceName } from '../protocol/platform-api.js';

export function installServiceHeader(app: FastifyInstance, service: ServiceName): void {
  // onSend runs for every reply, including those the error and not-found handlers send.
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.header(SERVICE_HEADER, service);
    return payload;
  });
}
