// Dumping coverage from a JaCoCo agent in tcpserver mode over one short TCP connection, natively in
// TypeScript (no Java on the agent's side): send header + dump command, stream blocks up to CMDOK, close.
import { connect } from 'node:net';
import { finished, type Writable } from 'node:stream';
import { UpstreamError, ValidationError } from '../../shared/errors.js';
import { BlockParser, CoverageTooLargeError, JacocoProtocolError, encodeDumpCommand, encodeHeader } from './jacoco-codec.js';

export interface JacocoDumpOptions {
  /** Already passed the host check (createJacocoHostCheck): this module connects wherever it is told. */
  host: string;
  port: number;
  /** Reset the agent's probes in the same atomic step as the dump. */
  reset: boolean;
  /** Deadline for the whole dump, connect to CMDOK: a peer that drips bytes forever is cut off too, not only a silent one. */
  timeoutMs: number;
  /** Most bytes read from the peer; one more and the dump is refused with COVERAGE_TOO_LARGE. */
  maxBytes: number;
  /** Most probes in one class; a longer array is refused as soon as its length arrives. */
  maxProbes: number;
  /**
   * Receives the .exec as it is parsed: our header, then the session and class blocks exactly as received.
   * Ended (and flushed) when the dump succeeds; destroyed on failure, leaving what it wrote to the caller to discard.
   */
  out: Writable;
  /** Aborts the dump (the caller hung up): the socket is closed at once. */
  signal?: AbortSignal | undefined;
}

export interface JacocoDump {
  sessions: number;
  classes: number;
  /** Bytes written to `out`. */
  bytes: number;
}

/** Longest stretch one dump parses before it lets the event loop serve others. */
const TURN_MS = 2;

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EADDRNOTAVAIL']);

/**
 * Nothing is buffered beyond one socket chunk, one incomplete block (BlockParser) and what `out` holds
 * before it pushes back: while either is busy the socket is paused, and TCP flow control slows the peer.
 * The JaCoCo agent serves one connection at a time, so the socket is closed as soon as CMDOK arrives
 * (or on any failure): a lingering client would block every other dump, `jacococli` included.
 */
export function dumpJacoco(opts: JacocoDumpOptions): Promise<JacocoDump> {
  return new Promise((resolve, reject) => {
    const target = `${opts.host}:${opts.port}`;
    const parser = new BlockParser({ maxProbes: opts.maxProbes });
    const { out } = opts;
    let sessions = 0;
    let classes = 0;
    let received = 0;
    let written = 0;
    let settled = false;

    if (opts.signal?.aborted) {
      out.destroy();
      reject(new ValidationError('the caller went away before the dump started'));
      return;
    }
    const socket = connect({ host: opts.host, port: opts.port });
    socket.setNoDelay(true);
    const timer = setTimeout(
      () => finish(new UpstreamError('JACOCO_TIMEOUT', `JaCoCo agent at ${target} did not complete the dump within ${opts.timeoutMs} ms`)),
      opts.timeoutMs,
    );
    const onAbort = () => finish(new ValidationError('the caller went away; dump abandoned'));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const onOutError = (err: Error) => finish(err);
    out.on('error', onOutError);

    function finish(err?: Error, result?: JacocoDump): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      // onOutError stays attached (a no-op from now on): a write still in flight may fail after we settle.
      if (err) {
        out.destroy();
        reject(err);
        return;
      }
      // Resolved once every byte is with the file system, so the caller can read or rename the result.
      out.end();
      finished(out, (outErr) => (outErr ? reject(outErr) : resolve(result!)));
    }

    // Parsing runs in turns of at most TURN_MS, the socket paused from one chunk to the next: a flood
    // from the peer then costs other requests (/healthz included) a few ms per dump, not the whole flood.
    // Without this, libuv hands over up to 32 reads per socket per loop iteration, and parsing them held
    // the event loop for hundreds of ms.
    let parsing = false;
    let outBlocked = false;

    function readMore(): void {
      if (!settled && !parsing && !outBlocked) socket.resume();
    }

    function write(parts: Buffer[]): void {
      if (parts.length === 0) return;
      const chunk = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      written += chunk.length;
      if (!out.write(chunk)) {
        outBlocked = true;
        out.once('drain', () => {
          outBlocked = false;
          readMore();
        });
      }
    }

    function parseTurn(): void {
      if (settled) return;
      const until = performance.now() + TURN_MS;
      // The blocks of one turn go out as one write: a chunk holds thousands of small class blocks.
      const parts: Buffer[] = [];
      let n = 0;
      try {
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
              write(parts);
              finish(undefined, { sessions, classes, bytes: written });
              return;
            case 'dump-command':
              throw new JacocoProtocolError('the peer sent a dump command: it is a client, not a JaCoCo agent');
          }
          if (++n % 64 === 0 && performance.now() >= until) {
            write(parts);
            setImmediate(parseTurn);
            return;
          }
        }
      } catch (err) {
        if (err instanceof CoverageTooLargeError) finish(new CoverageTooLargeError(`JaCoCo agent at ${target}: ${err.message} (jacocoMaxProbes)`));
        else if (err instanceof JacocoProtocolError) finish(new JacocoProtocolError(`JaCoCo agent at ${target}: ${err.message}`));
        else finish(new JacocoProtocolError(`JaCoCo agent at ${target}: ${String(err)}`));
        return;
      }
      write(parts);
      parsing = false;
      readMore();
    }

    socket.on('connect', () => {
      // Header and command at once: the agent (0.8.15+) may buffer its own header until it answers.
      socket.write(Buffer.concat([encodeHeader(), encodeDumpCommand(true, opts.reset)]));
      write([encodeHeader()]);
    });

    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      received += chunk.length;
      if (received > opts.maxBytes) {
        finish(new CoverageTooLargeError(`JaCoCo reply from ${target} exceeds ${opts.maxBytes} bytes (jacocoMaxBytes)`));
        return;
      }
      // Nothing more is read until this chunk is parsed and written.
      socket.pause();
      parsing = true;
      parser.push(chunk);
      parseTurn();
    });

    socket.on('end', () => {
      finish(new JacocoProtocolError(`JaCoCo agent at ${target} closed the connection before the dump was complete`));
    });

    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (UNREACHABLE.has(err.code ?? '')) {
        finish(new UpstreamError('JACOCO_UNREACHABLE', `no JaCoCo agent reachable at ${target} (${err.code})`, { cause: err }));
      } else {
        finish(new UpstreamError('JACOCO_CONNECTION', `connection to JaCoCo agent at ${target} failed (${err.code ?? err.message})`, { cause: err }));
      }
    });
  });
}
