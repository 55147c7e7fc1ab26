// /openapi.json of both servers: well formed (a structural OpenAPI 3.1 check), covering every
// platform path, and true: every example the controller's document carries is replayed against a real
// controller on a private Redis, its status checked and its reply validated against the document.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAgentOpenApi } from '../../src/agent/port/openapi.js';
import { platformApiPaths, SERVICE_HEADER, servicePaths } from '../../src/shared/protocol/platform-api.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { agentBody, call, claimId, startController, type Running } from './controller-harness.js';
import { openApiProblems, validate } from './openapi-check.js';

let redis: PrivateRedis;
let ctl: Running;
let doc: any;

beforeAll(async () => {
  redis = await startRedis();
  ctl = await startController(redis.url);
  const r = await call(ctl.url, 'GET', servicePaths.openapi, { token: null });
  expect(r.status).toBe(200);
  expect(r.headers[SERVICE_HEADER]).toBe('controller');
  doc = r.body;
});
afterAll(async () => {
  await ctl?.close();
  await redis?.stop();
});

/** A job no agent will claim. */
async function queuedJob(): Promise<string> {
  return (await call(ctl.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'nobody-example' } })).body.id;
}

/** A job that ran to its end on a registered agent (through the agent API, as an agent would). */
async function finishedJob(): Promise<string> {
  await call(ctl.url, 'POST', '/v1/agent/register', { body: agentBody('example-agent') });
  const { id } = (await call(ctl.url, 'POST', '/v1/jobs', { body: { task: 'noop', agent: 'example-agent' } })).body;
  // The claim also hands out the examples' untargeted jobs: all of them are completed.
  const claimed = (await call(ctl.url, 'POST', '/v1/agent/claim', { body: { agentId: 'example-agent', max: 100, waitMs: 0, claimId: claimId() } })).body.jobs as { id: string; epoch: number }[];
  expect(claimed.map((j) => j.id)).toContain(id);
  for (const j of claimed) {
    const done = await call(ctl.url, 'POST', `/v1/agent/jobs/${j.id}/complete`, { body: { epoch: j.epoch, outcome: 'succeeded', steps: [], logBytes: 0 } });
    expect(done.status).toBe(200);
  }
  return id;
}

/** An agent that enrolled and registered (the harness enrolls it on its first agent-API call). */
async function enrolledAgent(): Promise<string> {
  expect((await call(ctl.url, 'POST', '/v1/agent/register', { body: agentBody('example-agent') })).status).toBe(200);
  return 'example-agent';
}

const PLACEHOLDERS: Record<string, () => Promise<string>> = { '<queued-job>': queuedJob, '<finished-job>': finishedJob, '<enrolled-agent>': enrolledAgent };

describe('/openapi.json', () => {
  it('is a well-formed OpenAPI 3.1 document, on the controller and on the agent port', () => {
    expect(openApiProblems(doc)).toEqual([]);
    expect(openApiProblems(buildAgentOpenApi({ version: '0.0.0' }))).toEqual([]);
  });

  it('the checker itself finds what is wrong', () => {
    const broken = structuredClone(doc);
    delete broken.paths['/v1/jobs/{id}'].get.parameters;
    broken.paths['/v1/jobs'].get.responses = { 418: {} };
    expect(openApiProblems(broken)).toEqual(expect.arrayContaining([expect.stringMatching(/\{id\} has no path parameter/), expect.stringMatching(/no 2xx response/), expect.stringMatching(/description is required/)]));
    expect(validate({ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'], additionalProperties: false }, { a: 1.5, b: 1 })).toHaveLength(2);
    expect(validate({ type: 'string', unknownKeyword: 1 }, 'x')[0]).toMatch(/unsupported schema keyword/);
  });

  it('documents every platform path, and every operation carries examples', () => {
    const documented = Object.keys(doc.paths);
    const routes = [...Object.values(platformApiPaths).map((p) => (typeof p === 'string' ? p : p.route)), ...Object.values(servicePaths)];
    for (const route of routes) expect(documented, route).toContain(route.replace(/:(\w+)/g, '{$1}'));
    for (const [path, item] of Object.entries<any>(doc.paths)) for (const [method, op] of Object.entries<any>(item)) expect(op['x-examples']?.length, `${method} ${path}`).toBeGreaterThan(0);
  });

  it('every example is answered as documented, its reply valid against the document', async () => {
    let replayed = 0;
    for (const [path, item] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        for (const ex of op['x-examples'] as { name: string; params?: Record<string, string>; query?: Record<string, string>; body?: unknown; status: number }[]) {
          const what = `${method.toUpperCase()} ${path} (${ex.name})`;
          let url = path;
          for (const [k, v] of Object.entries(ex.params ?? {})) url = url.replace(`{${k}}`, encodeURIComponent(PLACEHOLDERS[v] ? await PLACEHOLDERS[v]() : v));
          if (ex.query) url += `?${new URLSearchParams(ex.query).toString()}`;
          const reply = await call(ctl.url, method.toUpperCase(), url, ex.body === undefined ? {} : { body: ex.body });
          expect(reply.status, `${what}: ${reply.text.slice(0, 300)}`).toBe(ex.status);
          const documented = op.responses[String(ex.status)];
          expect(documented, `${what}: status ${ex.status} is documented`).toBeDefined();
          const schema = documented.content?.['application/json']?.schema;
          if (schema) expect(validate(schema, reply.body), what).toEqual([]);
          for (const h of Object.keys(documented.headers ?? {})) if (h !== 'x-next-cursor' && h !== 'x-total-count') expect(reply.headers[h], `${what}: header ${h}`).toBeDefined();
          expect(reply.headers[SERVICE_HEADER], what).toBe('controller');
          replayed++;
        }
      }
    }
    // All of them, and enough of them to mean something.
    expect(replayed).toBeGreaterThanOrEqual(15);
  });
});
