// The shared HTTP kit (src/shared/http) on a real fastify server over real sockets: the bearer check, the
// error handler (fastify's refusals, Retry-After, a server's own classifier, 500s without details), the
// 404 handler and the one BAD_REQUEST shape.
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HttpAgentError, OverloadedError, StaleEpochError } from '../../src/shared/errors.js';
import { createTokenCheck } from '../../src/shared/http/auth.js';
import { frameworkErrors, installErrorHandling } from '../../src/shared/http/error-handler.js';
import { parseOr400 } from '../../src/shared/http/validate.js';
import { silentLogger } from '../../src/shared/log.js';

const TOKEN = 'kit-token-0123456789abcdef';
let app: FastifyInstance;
let base: string;

const bodySchema = z.strictObject({ name: z.string().min(1), steps: z.array(z.strictObject({ task: z.string() })).optional() });
const formsSchema = z.union([z.strictObject({ task: z.string() }), z.strictObject({ steps: z.array(z.string()).min(1), agent: z.string().optional() })]);

beforeAll(async () => {
  app = fastify({ loggerInstance: silentLogger() as FastifyBaseLogger, bodyLimit: 1024, routerOptions: { maxParamLength: 20 }, frameworkErrors });
  const check = createTokenCheck(TOKEN);
  app.addHook('onRequest', async (req) => {
    if (req.url !== '/open') check(req.headers.authorization);
  });
  installErrorHandling(app, {
    classify: (err) => (err.message === 'db away' ? new HttpAgentError('REDIS_UNAVAILABLE', 'store away', { cause: err, retryAfterSec: 1 }) : undefined),
  });
  app.get('/open', async () => ({ ok: true }));
  app.post('/echo', async (req) => parseOr400(bodySchema, req.body));
  app.post('/forms', async (req) => parseOr400(formsSchema, req.body));
  app.get('/query', async (req) => parseOr400(z.strictObject({ limit: z.coerce.number().int().min(1) }), req.query, 'query'));
  app.get('/items/:id', async (req) => parseOr400(z.strictObject({ id: z.string().regex(/^[a-z]+$/) }), req.params, 'params'));
  app.get('/overloaded', async () => {
    throw new OverloadedError('full', 7);
  });
  app.get('/stale', async () => {
    throw new StaleEpochError(undefined, { epoch: 3 });
  });
  app.get('/db', async () => {
    throw new Error('db away');
  });
  app.get('/bug', async () => {
    throw new TypeError('secret internals');
  });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => app?.close());

async function call(method: 'GET' | 'POST', path: string, opts: { auth?: string | null; json?: unknown; raw?: string; type?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.auth !== null) headers.authorization = opts.auth ?? `Bearer ${TOKEN}`;
  let body: string | undefined;
  if (opts.json !== undefined || opts.raw !== undefined) {
    headers['content-type'] = opts.type ?? 'application/json';
    body = opts.raw ?? JSON.stringify(opts.json);
  }
  const res = await request(`${base}${path}`, { method, headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: text ? JSON.parse(text) : undefined };
}

describe('bearer check', () => {
  it('refuses a missing, wrong, shorter, longer or non-Bearer token with 401 UNAUTHORIZED', async () => {
    for (const auth of [null, '', 'Bearer', `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, `Bearer ${TOKEN} extra`, 'Bearer wrong-token-0123456789']) {
      const r = await call('GET', '/stale', { auth });
      expect(r.status, String(auth)).toBe(401);
      expect(r.json).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    }
  });

  it('takes the token with any case of the scheme and surrounding blanks', async () => {
    for (const auth of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER \t${TOKEN}`]) {
      expect((await call('POST', '/echo', { auth, json: { name: 'x' } })).status, auth).toBe(200);
    }
  });
});

describe('error handler', () => {
  it("maps fastify's refusals to stable codes", async () => {
    expect((await call('POST', '/echo', { raw: '{"name":' })).json.error.code).toBe('BAD_JSON');
    expect((await call('POST', '/echo', { raw: '' })).json.error.code).toBe('BAD_JSON');
    const big = await call('POST', '/echo', { json: { name: 'x'.repeat(2000) } });
    expect([big.status, big.json.error.code]).toEqual([413, 'BODY_TOO_LARGE']);
    const form = await call('POST', '/echo', { raw: 'a=b', type: 'application/x-www-form-urlencoded' });
    expect([form.status, form.json.error.code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
    // Refused while routing, before any hook: still the project's shape, not fastify's.
    for (const path of ['/items/%zz', `/items/${'a'.repeat(21)}`]) {
      const url = await call('GET', path);
      expect([url.status, url.json], path).toEqual([400, { error: { code: 'BAD_URL', message: expect.any(String) } }]);
    }
  });

  it('answers a registered error with its registry status, its details and Retry-After when it has one', async () => {
    const stale = await call('GET', '/stale');
    expect(stale.status).toBe(409);
    expect(stale.json.error).toMatchObject({ code: 'STALE_EPOCH', epoch: 3 });
    expect(stale.headers['retry-after']).toBeUndefined();
    const full = await call('GET', '/overloaded');
    expect([full.status, full.json.error.code, full.headers['retry-after']]).toEqual([429, 'OVERLOADED', '7']);
  });

  it("lets the server's classifier name its own failures (Redis away → 503 with Retry-After)", async () => {
    const r = await call('GET', '/db');
    expect([r.status, r.json.error.code, r.headers['retry-after']]).toEqual([503, 'REDIS_UNAVAILABLE', '1']);
  });

  it('answers anything else 500 INTERNAL without its message', async () => {
    const r = await call('GET', '/bug');
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
    expect(r.text).not.toContain('secret');
  });

  it('answers an unknown route 404 NOT_FOUND, after the token check', async () => {
    const r = await call('GET', '/nothing?x=1');
    expect([r.status, r.json.error.code, r.json.error.message]).toEqual([404, 'NOT_FOUND', 'no route GET /nothing']);
    expect((await call('GET', '/nothing', { auth: null })).status).toBe(401);
  });

  it('sends JSON with a charset', async () => {
    expect((await call('GET', '/stale')).headers['content-type']).toBe('application/json; charset=utf-8');
  });
});

describe('BAD_REQUEST: one shape, issues with path, code and message', () => {
  it('lists each unknown field with its own path, and names the first in the message', async () => {
    const r = await call('POST', '/echo', { json: { name: 'x', zzz: 1, steps: [{ task: 't', timeout: 3 }] } });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('BAD_REQUEST');
    // In zod's order (nested objects are checked before the keys around them).
    expect(r.json.error.issues).toEqual([
      { path: 'steps.0.timeout', code: 'unrecognized_keys', message: 'unknown field "steps.0.timeout"' },
      { path: 'zzz', code: 'unrecognized_keys', message: 'unknown field "zzz"' },
    ]);
    expect(r.json.error.message).toBe('invalid body: unknown field "steps.0.timeout"; unknown field "zzz"');
  });

  it('names the field of a wrong value, and the whole body when it is not an object', async () => {
    const r = await call('POST', '/echo', { json: { name: '' } });
    expect(r.json.error.issues).toEqual([{ path: 'name', code: 'too_small', message: expect.stringMatching(/^name: /) }]);
    const whole = await call('POST', '/echo', { json: 'text' });
    expect(whole.json.error.issues[0]).toMatchObject({ path: '', code: 'invalid_type' });
  });

  it('explains a union by the form the input came closest to', async () => {
    const r = await call('POST', '/forms', { json: { steps: [], agent: 'a' } });
    expect(r.json.error.issues).toEqual([{ path: 'steps', code: 'too_small', message: expect.stringMatching(/^steps: /) }]);
  });

  it('says which part was checked: query and path parameters too', async () => {
    const q = await call('GET', '/query?limit=0');
    expect(q.status).toBe(400);
    expect(q.json.error.message).toMatch(/^invalid query: limit: /);
    expect(q.json.error.issues[0]).toMatchObject({ path: 'limit', code: 'too_small' });
    const p = await call('GET', '/items/ABC');
    expect(p.json.error.message).toMatch(/^invalid params: id: /);
    expect(p.json.error.issues[0]).toMatchObject({ path: 'id', code: 'invalid_format' });
  });
});
