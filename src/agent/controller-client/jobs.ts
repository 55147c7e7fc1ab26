// Jobs resource: everything an agent says about a job it holds, each call fenced by the lease epoch.
import { z } from 'zod';
import {
  agentApiPaths,
  completeBatchResponseSchema,
  completeResponseSchema,
  logAppendResponseSchema,
  renewResponseSchema,
  type CompleteBatchRequest,
  type CompleteBatchResponse,
  type CompleteRequest,
  type CompleteResponse,
  type StepUpdate,
} from '../../shared/protocol/agent-api.js';
import type { ControllerHttp } from '../../shared/client/controller-http.js';

export interface JobsResource {
  renew(jobId: string, epoch: number): Promise<z.infer<typeof renewResponseSchema>>;
  appendLog(jobId: string, epoch: number, offset: number, bytes: Buffer): Promise<z.infer<typeof logAppendResponseSchema>>;
  step(jobId: string, update: StepUpdate): Promise<void>;
  complete(jobId: string, req: CompleteRequest): Promise<CompleteResponse>;
  /** Several results (and the next jobs' claim) in one call; a status per result. */
  completeBatch(req: CompleteBatchRequest): Promise<CompleteBatchResponse>;
}

const anyReply = z.unknown();

export function jobsResource(http: ControllerHttp): JobsResource {
  return {
    renew: (jobId, epoch) => http.call(agentApiPaths.renew(jobId), renewResponseSchema, { json: { epoch } }),
    appendLog: (jobId, epoch, offset, bytes) =>
      http.call(agentApiPaths.log(jobId), logAppendResponseSchema, { method: 'POST', query: { epoch, offset }, body: bytes }),
    step: async (jobId, update) => {
      await http.call(agentApiPaths.step(jobId), anyReply, { json: update });
    },
    complete: (jobId, req) => http.call(agentApiPaths.complete(jobId), completeResponseSchema, { json: req, timeoutMs: 30_000 }),
    completeBatch: (req) => http.call(agentApiPaths.completeBatch, completeBatchResponseSchema, { json: req, timeoutMs: 30_000 }),
  };
}
