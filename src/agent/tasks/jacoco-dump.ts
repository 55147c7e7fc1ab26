// Dumping coverage from a JaCoCo agent in tcpserver mode over one short TCP connection, natively in
// TypeScript (no Java on the agent's side): send header + dump command, read blocks up to CMDOK, close.
import { connect } from 'node:net';
import { UpstreamError } from '../../shared/errors.js';
import { BlockParser, JacocoProtocolError, encodeDumpCommand, encodeHeader } from './jacoco-codec.js';

export interface JacocoDumpOptions {
  host: string;
  port: number;
  /** Reset the agent's probes in the same atomic step as the dump. */
  reset: boolean;
  timeoutMs: number;
  /** Largest reply accepted; beyond it the dump is refused rather than buffered without bound. */
  maxBytes: number;
}

export interface JacocoDump {
  /** A complete .exec file: our header, then the session and class blocks exactly as received. */
  exec: Buffer;
  sessions: number;
  classes: number;
}

/**
 * The JaCoCo agent serves one connection at a time, so the socket is closed as soon as CMDOK arrives
 * (or on any failure): a lingering client would block every other dump, `jacococli` included.
 */
export function dumpJacoco(opts: JacocoDumpOptions): Promise<JacocoDump> {
  return new Promise((resolve, reject) => {
    const target = `${opts.host}:${opts.port}`;
    const parser = new BlockParser();
    const parts: Buffer[] = [encodeHeader()];
    let sessions = 0;
    let classes = 0;
    let received = 0;
    let settled = false;

    const socket = connect({ host: opts.host, port: opts.port });
    socket.setNoDelay(true);
    const timer = setTimeout(
      () => finish(new UpstreamError('JACOCO_TIMEOUT', `JaCoCo agent at ${target} did not complete the dump within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );

    function finish(err?: Error, result?: JacocoDump): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(result!);
    }

    socket.on('connect', () => {
      // Header and command at once: the agent (0.8.15+) may buffer its own header until it answers.
      socket.write(Buffer.concat([encodeHeader(), encodeDumpCommand(true, opts.reset)]));
    });

    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      received += chunk.length;
      if (received > opts.maxBytes) {
        finish(new UpstreamError('JACOCO_TOO_LARGE', `JaCoCo reply from ${target} exceeds ${opts.maxBytes} bytes`));
        return;
      }
      try {
        parser.push(chunk);
        for (let b = parser.next(); b; b = parser.next()) {
          switch (b.block.type) {
            case 'header':
              break; // we write our own header once; repeated headers are legal and dropped
            case 'session':
              sessions++;
              parts.push(b.raw);
              break;
            case 'execution':
              classes++;
              parts.push(b.raw);
              break;
            case 'cmdok':
              finish(undefined, { exec: Buffer.concat(parts), sessions, classes });
              return;
            case 'dump-command':
              throw new JacocoProtocolError('the peer sent a dump command: it is a client, not a JaCoCo agent');
          }
        }
      } catch (err) {
        finish(err instanceof JacocoProtocolError ? withTarget(err, target) : new JacocoProtocolError(String(err)));
      }
    });

    socket.on('end', () => {
      finish(new JacocoProtocolError(`JaCoCo agent at ${target} closed the connection before the dump was complete`));
    });

    socket.on('error', (err: NodeJS.ErrnoException) => {
      const unreachable = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EADDRNOTAVAIL'];
      if (unreachable.includes(err.code ?? '')) {
        finish(new UpstreamError('JACOCO_UNREACHABLE', `no JaCoCo agent reachable at ${target} (${err.code})`, { cause: err }));
      } else {
        finish(new UpstreamError('JACOCO_CONNECTION', `connection to JaCoCo agent at ${target} failed (${err.code ?? err.message})`, { cause: err }));
      }
    });
  });
}

function withTarget(err: JacocoProtocolError, target: string): JacocoProtocolError {
  return new JacocoProtocolError(`JaCoCo agent at ${target}: ${err.message}`);
}
