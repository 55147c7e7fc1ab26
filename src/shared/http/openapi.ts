// The one OpenAPI generator of both servers: each describes its routes as a list of operations whose
// path, query and body schemas are the zod objects its routes validate with, and whose error replies
// come from the error registry. /openapi.json is built from that list (z.toJSONSchema), never by hand.
import { z } from 'zod';
import { errorSpec, type ErrorCode } from '../error-codes.js';

/**
 * A request the document promises an answer to, published under the operation's `x-examples` and
 * replayed against a real server by the contract tests. A `<name>` in a path parameter stands for a
 * value the replayer makes first (a job id, say).
 */
export interface ApiExample {
  name: string;
  summary: string;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  /** The status the server answers it with. */
  status: number;
}

/** One success reply: JSON (validated by `json`), or a text or binary body of the given content type. */
export interface ApiReply {
  status: number;
  description: string;
  json?: z.ZodType;
  text?: string;
  binary?: string;
  /** Response headers worth knowing, name → description. */
  headers?: Record<string, string>;
}

export interface ApiOperation {
  /** operationId: unique in the document. */
  id: string;
  method: 'get' | 'post' | 'put' | 'delete';
  /** The route as the server registers it (`/v1/jobs/:id`); published as `/v1/jobs/{id}`. */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  /** Served without a token. */
  public?: boolean;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The body's content type when it is not JSON (a raw log chunk). */
  bodyContentType?: string;
  ok: ApiReply[];
  /** Codes this operation may answer with; their statuses and meanings come from the registry. */
  errors: readonly ErrorCode[];
  examples?: readonly ApiExample[];
}

export interface ApiDescription {
  title: string;
  version: string;
  description: string;
  /** The bearer scheme: what the token is and where it comes from. */
  auth: { name: string; description: string; bearerFormat?: string };
  operations: readonly ApiOperation[];
}

type JsonSchema = Record<string, unknown>;

/** zod → JSON Schema 2020-12 (what OpenAPI 3.1 embeds), without the per-schema `$schema` line. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

/** `{"error":{"code","message",...}}` with `code` one of `codes`. */
function errorBody(codes: readonly string[]): JsonSchema {
  return {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: [...codes] },
          message: { type: 'string' },
          issues: {
            type: 'array',
            items: { type: 'object', required: ['path', 'code', 'message'], properties: { path: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } } },
          },
        },
        additionalProperties: true,
      },
    },
  };
}

/** The object schema's fields as OpenAPI parameters of one kind. */
function parameters(schema: z.ZodObject | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return [];
  const obj = jsonSchema(schema, 'input');
  const props = (obj.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((obj.required as string[] | undefined) ?? []);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

function reply(r: ApiReply): JsonSchema {
  const content: Record<string, unknown> = {};
  if (r.json) content['application/json'] = { schema: jsonSchema(r.json, 'output') };
  if (r.text) content[r.text] = { schema: { type: 'string' } };
  if (r.binary) content[r.binary] = { schema: { type: 'string', contentMediaType: r.binary } };
  const headers = r.headers ? Object.fromEntries(Object.entries(r.headers).map(([h, description]) => [h, { description, schema: { type: 'string' } }])) : undefined;
  return { description: r.description, ...(headers ? { headers } : {}), ...(Object.keys(content).length ? { content } : {}) };
}

function operation(op: ApiOperation): JsonSchema {
  const responses: Record<string, unknown> = {};
  for (const r of op.ok) responses[String(r.status)] = reply(r);
  const byStatus = new Map<number, string[]>();
  const codes = op.public ? op.errors : [...new Set<ErrorCode>(['UNAUTHORIZED', ...op.errors])];
  for (const code of codes) {
    const status = errorSpec(code).http;
    if (status === undefined) throw new Error(`${op.id}: ${code} never travels over HTTP`);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    responses[String(status)] = {
      description: list.map((c) => `${c}: ${errorSpec(c as ErrorCode).meaning}`).join('; '),
      content: { 'application/json': { schema: errorBody(list) } },
    };
  }
  const bodyExamples = (op.examples ?? []).filter((e) => e.body !== undefined);
  const bodyType = op.bodyContentType ?? 'application/json';
  return {
    operationId: op.id,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description ? { description: op.description } : {}),
    ...(op.public ? { security: [] } : {}),
    parameters: [...parameters(op.params, 'path'), ...parameters(op.query, 'query')],
    ...(op.body
      ? {
          requestBody: {
            required: true,
            content: {
              [bodyType]: {
                schema: bodyType === 'application/json' ? jsonSchema(op.body, 'input') : { type: 'string', contentMediaType: bodyType },
                ...(bodyExamples.length ? { examples: Object.fromEntries(bodyExamples.map((e) => [e.name, { summary: e.summary, value: e.body }])) } : {}),
              },
            },
          },
        }
      : {}),
    responses,
    ...(op.examples?.length ? { 'x-examples': op.examples } : {}),
  };
}

/** `/v1/jobs/:id` → `/v1/jobs/{id}`. */
export function openApiPath(route: string): string {
  return route.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

/** The OpenAPI 3.1 document of one server. */
export function buildOpenApi(api: ApiDescription): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  const ids = new Set<string>();
  for (const op of api.operations) {
    if (ids.has(op.id)) throw new Error(`operationId ${op.id} is used twice`);
    ids.add(op.id);
    (paths[openApiPath(op.path)] ??= {})[op.method] = operation(op);
  }
  return {
    openapi: '3.1.0',
    info: { title: api.title, version: api.version, description: api.description },
    components: {
      securitySchemes: {
        [api.auth.name]: { type: 'http', scheme: 'bearer', description: api.auth.description, ...(api.auth.bearerFormat ? { bearerFormat: api.auth.bearerFormat } : {}) },
      },
    },
    security: [{ [api.auth.name]: [] }],
    tags: [...new Set(api.operations.map((o) => o.tag))].map((name) => ({ name })),
    paths,
  };
}
