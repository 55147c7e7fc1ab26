// /openapi.json built from the zod schemas that validate the requests (z.toJSONSchema), never by hand.
import { z } from 'zod';
import {
  authorizeRequestSchema,
  authorizeResponseSchema,
  deleteRequestSchema,
  deleteResponseSchema,
  errorBodySchema,
  healthResponseSchema,
  publicHealthResponseSchema,
  jacocoRequestSchema,
  jacocoSavedResponseSchema,
  jobAcceptedResponseSchema,
  jobSubmitSchema,
  runRequestSchema,
  runResponseSchema,
} from './schemas.js';

interface Operation {
  method: 'get' | 'post' | 'delete';
  path: string;
  summary: string;
  public?: boolean;
  body?: z.ZodType;
  ok: { status: number; schema?: z.ZodType; contentType?: string; description: string };
  errors: number[];
}

const operations: Operation[] = [
  { method: 'get', path: '/healthz', summary: 'Liveness and state; with a port token also version, running jobs, controller reachability', public: true, ok: { status: 200, schema: z.union([publicHealthResponseSchema, healthResponseSchema]), description: 'healthy (the short form without a token)' }, errors: [401] },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics (a port token unless metricsPublic)', ok: { status: 200, contentType: 'text/plain', description: 'Prometheus text format' }, errors: [401] },
  { method: 'get', path: '/openapi.json', summary: 'This document', public: true, ok: { status: 200, description: 'OpenAPI 3.1' }, errors: [] },
  { method: 'post', path: '/v1/run', summary: 'Run an allow-listed task synchronously', body: runRequestSchema, ok: { status: 200, schema: runResponseSchema, description: 'the task ran (any exit code)' }, errors: [400, 401, 403, 413, 429] },
  { method: 'post', path: '/v1/delete', summary: 'Delete files or trees inside deleteRoots', body: deleteRequestSchema, ok: { status: 200, schema: deleteResponseSchema, description: 'a result per path' }, errors: [400, 401, 403, 413] },
  { method: 'post', path: '/v1/authorize', summary: "Add an SSH public key to a user's authorized_keys", body: authorizeRequestSchema, ok: { status: 200, schema: authorizeResponseSchema, description: 'added or already present' }, errors: [400, 401, 403, 404, 409] },
  { method: 'delete', path: '/v1/authorize', summary: "Remove an SSH public key from a user's authorized_keys", body: authorizeRequestSchema, ok: { status: 200, schema: authorizeResponseSchema, description: 'removed or absent' }, errors: [400, 401, 403, 404, 409] },
  { method: 'post', path: '/v1/coverage/jacoco', summary: 'Dump coverage from a JaCoCo tcpserver agent', body: jacocoRequestSchema, ok: { status: 200, schema: jacocoSavedResponseSchema, contentType: 'application/octet-stream', description: '.exec bytes, or a summary with "save": true' }, errors: [400, 401, 403, 413, 429, 502] },
  { method: 'post', path: '/v1/jobs', summary: 'Queue a heavy job for this agent at the controller', body: jobSubmitSchema, ok: { status: 202, schema: jobAcceptedResponseSchema, description: 'accepted' }, errors: [400, 401, 502] },
];

const json = (schema: z.ZodType, io: 'input' | 'output') => z.toJSONSchema(schema, { io, unrepresentable: 'any' });

export function buildOpenApi(info: { version: string }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const responses: Record<string, unknown> = {};
    const content: Record<string, unknown> = {};
    if (op.ok.contentType === 'application/octet-stream') {
      content['application/octet-stream'] = { schema: { type: 'string', format: 'binary' } };
      if (op.ok.schema) content['application/json'] = { schema: json(op.ok.schema, 'output') };
    } else if (op.ok.contentType) {
      content[op.ok.contentType] = { schema: { type: 'string' } };
    } else if (op.ok.schema) {
      content['application/json'] = { schema: json(op.ok.schema, 'output') };
    }
    responses[String(op.ok.status)] = { description: op.ok.description, ...(Object.keys(content).length ? { content } : {}) };
    for (const status of op.errors) {
      responses[String(status)] = { description: 'error', content: { 'application/json': { schema: json(errorBodySchema, 'output') } } };
    }
    (paths[op.path] ??= {})[op.method] = {
      summary: op.summary,
      ...(op.public ? { security: [] } : {}),
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: json(op.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'httpagent agent port', version: info.version },
    // A port token: an EdDSA JWT for this agent from the controller's POST /v1/agents/{id}/token.
    components: { securitySchemes: { portToken: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    security: [{ portToken: [] }],
    paths,
  };
}
