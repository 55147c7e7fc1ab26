// The agent port's operations for /openapi.json: the zod schemas its routes validate with, handed to
// the one generator both servers share (src/shared/http/openapi.ts).
import { z } from 'zod';
import { buildOpenApi, type ApiOperation } from '../../shared/http/openapi.js';
import {
  authorizeRequestSchema,
  authorizeResponseSchema,
  deleteRequestSchema,
  deleteResponseSchema,
  healthResponseSchema,
  publicHealthResponseSchema,
  jacocoRequestSchema,
  jacocoSavedResponseSchema,
  jobAcceptedResponseSchema,
  jobSubmitSchema,
  runRequestSchema,
  runResponseSchema,
} from './schemas.js';

const BODY = ['BAD_REQUEST', 'BAD_JSON', 'BODY_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE'] as const;

const operations: ApiOperation[] = [
  { id: 'health', method: 'get', path: '/healthz', tag: 'service', summary: 'Liveness and state; with a port token also version, running jobs, controller reachability', public: true, ok: [{ status: 200, description: 'healthy (the short form without a token)', json: z.union([publicHealthResponseSchema, healthResponseSchema]) }], errors: ['UNAUTHORIZED'] },
  { id: 'metrics', method: 'get', path: '/metrics', tag: 'service', summary: 'Prometheus metrics (a port token unless metricsPublic)', ok: [{ status: 200, description: 'Prometheus text format', text: 'text/plain' }], errors: [] },
  { id: 'openapi', method: 'get', path: '/openapi.json', tag: 'service', summary: 'This document', public: true, ok: [{ status: 200, description: 'OpenAPI 3.1' }], errors: [] },
  { id: 'run', method: 'post', path: '/v1/run', tag: 'light tasks', summary: 'Run an allow-listed task synchronously', body: runRequestSchema, ok: [{ status: 200, description: 'the task ran (any exit code)', json: runResponseSchema }], errors: [...BODY, 'UNKNOWN_TASK', 'TASK_NEEDS_ROOT', 'OVERLOADED'] },
  { id: 'delete', method: 'post', path: '/v1/delete', tag: 'light tasks', summary: 'Delete files or trees inside deleteRoots', body: deleteRequestSchema, ok: [{ status: 200, description: 'a result per path', json: deleteResponseSchema }], errors: [...BODY, 'DELETE_DISABLED'] },
  { id: 'authorizeKey', method: 'post', path: '/v1/authorize', tag: 'light tasks', summary: "Add an SSH public key to a user's authorized_keys", body: authorizeRequestSchema, ok: [{ status: 200, description: 'added or already present', json: authorizeResponseSchema }], errors: [...BODY, 'INVALID_SSH_KEY', 'USER_NOT_ALLOWED', 'AUTHORIZE_NEEDS_ROOT', 'USER_NOT_FOUND', 'HOME_MISSING', 'UNSAFE_SSH_DIR'] },
  { id: 'revokeKey', method: 'delete', path: '/v1/authorize', tag: 'light tasks', summary: "Remove an SSH public key from a user's authorized_keys", body: authorizeRequestSchema, ok: [{ status: 200, description: 'removed or absent', json: authorizeResponseSchema }], errors: [...BODY, 'INVALID_SSH_KEY', 'USER_NOT_ALLOWED', 'AUTHORIZE_NEEDS_ROOT', 'USER_NOT_FOUND', 'HOME_MISSING', 'UNSAFE_SSH_DIR'] },
  {
    id: 'jacocoDump', method: 'post', path: '/v1/coverage/jacoco', tag: 'light tasks', summary: 'Dump coverage from a JaCoCo tcpserver agent', body: jacocoRequestSchema,
    ok: [{ status: 200, description: '.exec bytes, or a summary with "save": true', binary: 'application/octet-stream', json: jacocoSavedResponseSchema }],
    errors: [...BODY, 'JACOCO_UNREACHABLE', 'JACOCO_CONNECTION', 'JACOCO_TIMEOUT', 'COVERAGE_TOO_LARGE', 'JACOCO_HOST_NOT_ALLOWED', 'JACOCO_PROTOCOL'],
  },
  { id: 'forwardJob', method: 'post', path: '/v1/jobs', tag: 'heavy jobs', summary: 'Queue a heavy job for this agent at the controller', body: jobSubmitSchema, ok: [{ status: 202, description: 'accepted', json: jobAcceptedResponseSchema }], errors: [...BODY, 'CONTROLLER_UNREACHABLE'] },
];

export function buildAgentOpenApi(info: { version: string }): Record<string, unknown> {
  return buildOpenApi({
    title: 'httpagent agent port',
    version: info.version,
    description: 'Light tasks in milliseconds on the host, and heavy jobs queued at the controller for this agent. Bearer: a port token.',
    auth: { name: 'portToken', bearerFormat: 'JWT', description: "an EdDSA JWT for this agent, from the controller's POST /v1/agents/{id}/token" },
    operations,
  });
}
