// The one HTTP transport to the controller: an undici Pool with a bearer token, typed errors for every
// non-2xx reply and zod validation of every body, so the resources above it stay one-liners.
import { Pool, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { HttpAgentError, UpstreamError } from '../errors.js';
import { SERVICE_HEADER } from '../protocol/platform-api.js';
import { controllerErrorFrom, type ControllerError } from './controller-error.js';

export { ControllerError } from './controller-error.js';

/** The reply's body did not match the contract: a controller of another version, or a proxy in between. */
export class BadReplyError extends HttpAgentError {
  override name = 'BadReplyError';
  constructor(path: string, cause: unknown) {
    super('CONTROLLER_BAD_REPLY', `the controller's reply to ${path} does not match the agent API`, { cause });
  }
}

export interface ControllerHttpOptions {
  baseUrl: string;
  /** The bearer; a function is asked before each call (an agent's credential arrives after it enrolls). */
  token: string | (() => string);
  /** Sockets to the controller: long-polls hold one each, so heartbeats and logs need spares. */
  connections?: number;
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  query?: Record<string, string | number | undefined>;
  json?: unknown;
  body?: Buffer;
  /** Time allowed for the reply's headers (long-polls pass their wait plus a margin). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ControllerHttp {
  /** A JSON call whose 2xx reply is validated by `schema`. */
  call<S extends z.ZodType>(path: string, schema: S, opts?: RequestOptions): Promise<z.infer<S>>;
  /** A call whose 2xx body the caller reads itself (logs, streams). */
  raw(path: string, opts?: RequestOptions): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
}

export function createControllerHttp(opts: ControllerHttpOptions): ControllerHttp {
  const base = new URL(opts.baseUrl);
  const pool = new Pool(base.origin, { connections: opts.connections ?? 16, keepAliveTimeout: 60_000, pipelining: 1 });
  const prefix = base.pathname.replace(/\/$/, '');
  const token = opts.token;
  const auth = typeof token === 'string' ? () => `Bearer ${token}` : () => `Bearer ${token()}`;

  async function raw(path: string, o: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
    const qs = o.query
      ? Object.entries(o.query)
          .filter((e): e is [string, string | number] => e[1] !== undefined)
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
          .join('&')
      : '';
    const headers: Record<string, string> = { authorization: auth() };
    let body: string | Buffer | undefined;
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    } else if (o.body) {
      headers['content-type'] = 'application/octet-stream';
      body = o.body;
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await pool.request({
        path: `${prefix}${path}${qs ? `?${qs}` : ''}`,
        method: o.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        body,
        headersTimeout: o.timeoutMs ?? 30_000,
        bodyTimeout: 0,
        signal: o.signal,
      });
    } catch (err) {
      if (o.signal?.aborted) throw err;
      // Refused, reset, timed out: the controller is down or restarting; the retry policy decides.
      throw new UpstreamError('CONTROLLER_UNREACHABLE', `controller ${base.origin} unreachable: ${(err as Error).message}`, { cause: err });
    }
    // An agent's port answers some of the same paths (POST /v1/jobs, /healthz): its replies would be
    // misread as a controller's, so any reply that names the agent is refused before it is read.
    if (res.headers[SERVICE_HEADER] === 'agent') {
      await res.body.dump();
      throw new UpstreamError(
        'NOT_A_CONTROLLER',
        `${base.origin} is an httpagent agent's port, not the controller: point HTTPAGENT_CONTROLLER_URL at the controller (port 9890 by default)`,
      );
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    throw await errorFrom(res, path);
  }

  return {
    raw,
    async call(path, schema, o) {
      const res = await raw(path, o);
      let data: unknown;
      try {
        data = await res.body.json();
      } catch (err) {
        throw new BadReplyError(path, err);
      }
      const parsed = schema.safeParse(data);
      if (!parsed.success) throw new BadReplyError(path, parsed.error);
      return parsed.data;
    },
    close: () => pool.close(),
  };
}

async function errorFrom(res: Dispatcher.ResponseData, path: string): Promise<ControllerError> {
  const text = await res.body.text().catch(() => '');
  return controllerErrorFrom(res.statusCode, text, res.headers['retry-after'], `controller ${path}`);
}
