// Serves the built dashboard (controller/ui, built by `npm run build` into dist/ui) with a strict
// Content-Security-Policy: scripts, styles and connections from this origin only, nothing inline.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** dist/ui of the package this file belongs to, run from source (tsx) or compiled (dist/). */
export function defaultUiDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dist/ui');
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>httpagent</title></head>
<body><h1>The dashboard is not built</h1><p>Run <code>npm run build</code> and restart the controller.</p></body></html>`;

export function uiRoutes(app: FastifyInstance, uiDir = defaultUiDir()): void {
  // Every reply, API ones included: nothing this server sends may be framed or sniffed into a script.
  app.addHook('onSend', async (_req, reply) => {
    void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'no-referrer');
    void reply.header('x-frame-options', 'DENY');
  });
  const index = join(uiDir, 'index.html');
  if (!existsSync(index)) {
    app.get('/', async (_req, reply) => reply.code(503).type('text/html; charset=utf-8').send(NOT_BUILT));
    return;
  }
  const html = readFileSync(index);
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(html));
  void app.register(fastifyStatic, {
    root: join(uiDir, 'assets'),
    prefix: '/assets/',
    // Vite puts a content hash in every asset name: a changed file is a new URL.
    immutable: true,
    maxAge: '365d',
    index: false,
    list: false,
  });
}
