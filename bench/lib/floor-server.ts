// The physical floor, server side (a process of its own, as a controller is): an HTTP server with
// routes that do the least a controller in the middle must do per request, and nothing else.
//   POST /noop: one EVALSHA of a no-op script, then an empty JSON reply (the floor under one job's
//               claim-or-complete round trip);
//   POST /log:  one RPUSH of the request body (the floor under one streamed log chunk).
// Usage: node --import tsx bench/lib/floor-server.ts <redisUrl>; prints "LISTENING <port>".
import Fastify from 'fastify';
import { Redis } from 'ioredis';

/** The list the log floor pushes into (bench/lib/floor.ts reads it back and deletes it after each round). */
const FLOOR_LOG_KEY = 'bench:floor:log';
const CHUNK_LIMIT = 2 * 1024 * 1024;

const redisUrl = process.argv[2];
if (!redisUrl) throw new Error('usage: floor-server.ts <redisUrl>');
const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5000 });
const sha = String(await redis.script('LOAD', 'return 0'));

const app = Fastify({ logger: false, bodyLimit: CHUNK_LIMIT, requestTimeout: 30_000, keepAliveTimeout: 60_000 });
app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: CHUNK_LIMIT }, (_req, body, done) => done(null, body));
app.post('/noop', async () => {
  await redis.evalsha(sha, 0);
  return {};
});
app.post('/log', async (req) => {
  await redis.rpush(FLOOR_LOG_KEY, req.body as Buffer);
  return {};
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : ''}\n`);
process.once('SIGTERM', () => void app.close().then(() => redis.quit()).finally(() => process.exit(0)));
