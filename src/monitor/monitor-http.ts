// A small JSON-over-HTTP caller on node:http for the monitor's few calls. The agent's undici client
// is not used here: undici compiles its llhttp parser to WebAssembly and adds ~10 MB of RSS, which the
// idle monitor (budget 60 MB) cannot spare; node:http's parser is native and already loaded.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { UpstreamError } from '../shared/errors.js';

export interface HttpReply {
  status: number;
  /** The body as text, at most `maxBytes` of it. */
  text: string;
  /** The Retry-After header, if the reply had one. */
  retryAfter?: string | undefined;
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  json?: unknown;
  timeoutMs: number;
  maxBytes?: number;
}

export interface HttpCaller {
  call(url: string, opts: CallOptions): Promise<HttpReply>;
  close(): void;
}

/** Keep-alive sockets, few of them: the monitor makes one or two calls at a time. */
export function createHttpCaller(maxSockets = 2): HttpCaller {
  const agents = { http: new HttpAgent({ keepAlive: true, maxSockets }), https: new HttpsAgent({ keepAlive: true, maxSockets }) };
  return {
    call(url, o) {
      const u = new URL(url);
      const isHttps = u.protocol === 'https:';
      const body = o.json === undefined ? undefined : Buffer.from(JSON.stringify(o.json));
      const headers: Record<string, string | number> = { ...o.headers };
      if (body) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = body.length;
      }
      const max = o.maxBytes ?? 4 * 1024 * 1024;
      return new Promise<HttpReply>((resolve, reject) => {
        const req = (isHttps ? httpsRequest : httpRequest)(
          u,
          { method: o.method ?? (body ? 'POST' : 'GET'), headers, agent: isHttps ? agents.https : agents.http, signal: AbortSignal.timeout(o.timeoutMs) },
          (res: IncomingMessage) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (c: Buffer) => {
              if (size < max) chunks.push(c);
              size += c.length;
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8').slice(0, max), retryAfter: res.headers['retry-after'] }));
            res.on('error', reject);
          },
        );
        req.on('error', (err: Error) => {
          const why = err.name === 'AbortError' || err.name === 'TimeoutError' ? `no answer within ${o.timeoutMs} ms` : ((err as NodeJS.ErrnoException).code ?? err.message);
          reject(new UpstreamError('UPSTREAM_UNREACHABLE', `${u.origin}: ${why}`, { cause: err }));
        });
        req.end(body);
      });
    },
    close() {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
