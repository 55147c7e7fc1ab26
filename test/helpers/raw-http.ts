// HTTP/1.1 written by hand over a socket, for tests that send what a well-behaved client never would
// (half a body, bytes a minute apart, bad percent-encoding, 20 KiB of headers) and read what comes back.
import { connect, type Socket } from 'node:net';

export interface RawReply {
  status: number;
  /** Lower-cased names. */
  headers: Record<string, string>;
  body: Buffer;
}

/** Parses one reply from `bytes`; undefined while it is incomplete. Handles Content-Length and chunked. */
export function parseReply(bytes: Buffer, ended: boolean): RawReply | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const rest = bytes.subarray(end + 4);
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    return rest.length >= n ? { status, headers, body: rest.subarray(0, n) } : undefined;
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (Number.isNaN(size)) return { status, headers, body: Buffer.concat(parts) };
      if (size === 0) return { status, headers, body: Buffer.concat(parts) };
      if (rest.length < lineEnd + 2 + size + 2) return undefined;
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  return ended ? { status, headers, body: rest } : undefined;
}

export interface RawConnection {
  socket: Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once the socket closed; `byPeer`: it was not closed from this side first. */
  closed: Promise<{ byPeer: boolean }>;
  /** Resolves with the first complete reply, or undefined if the socket closed before one arrived. */
  reply(): Promise<RawReply | undefined>;
  /** Closes from this side (teardown). */
  destroy(): void;
}

/** Connects to `base` (http://host:port) and writes `first`, if given, once connected. */
export async function rawConnect(base: string, first?: string | Buffer): Promise<RawConnection> {
  const url = new URL(base);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  let data = Buffer.alloc(0);
  let ended = false;
  let ourClose = false;
  const listeners = new Set<() => void>();
  socket.on('data', (d: Buffer) => {
    data = Buffer.concat([data, d]);
    for (const l of listeners) l();
  });
  // A reset after the server closed with our bytes unread is one way a refusal ends: not a test failure.
  socket.on('error', () => undefined);
  const closed = new Promise<{ byPeer: boolean }>((resolve) =>
    socket.once('close', () => {
      ended = true;
      for (const l of listeners) l();
      resolve({ byPeer: !ourClose });
    }),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('close', () => reject(new Error(`connection to ${base} closed before it was established`)));
  });
  if (first !== undefined) socket.write(first);
  return {
    socket,
    received: () => data,
    closed,
    reply: () =>
      new Promise((resolve) => {
        const check = () => {
          const r = parseReply(data, ended);
          if (r || ended) {
            listeners.delete(check);
            resolve(r);
          }
        };
        listeners.add(check);
        check();
      }),
    destroy() {
      ourClose = true;
      socket.destroy();
    },
  };
}

/** One request on a connection of its own, closed once the reply is read; the reply, or undefined if none came. */
export async function rawRequest(base: string, request: string | Buffer, opts: { endAfterWrite?: boolean } = {}): Promise<RawReply | undefined> {
  const c = await rawConnect(base, request);
  if (opts.endAfterWrite) c.socket.end();
  const r = await c.reply();
  c.destroy();
  return r;
}

/** Request bytes: method, path as given (not re-encoded), headers in order, body as given. */
export function requestBytes(method: string, path: string, headers: Array<[string, string]>, body?: string | Buffer): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  return body === undefined ? head : Buffer.concat([head, Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
}
