// Where the release channel's bundle files live: a directory on the controller's disk (releaseDir), or an
// S3-compatible bucket that every controller of the fleet shares. Uploads are spooled and verified before
// they get here; downloads stream from here through the controller, so agents never hold S3 credentials.
import { mkdirSync, mkdtempSync, openAsBlob, renameSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { AwsClient } from 'aws4fetch';
import type { ControllerConfig } from '../../src/shared/config/controller-config.js';
import { ConfigError, HttpAgentError } from '../../src/shared/errors.js';
import type { S3Credentials } from './controller-secrets.js';

export interface StoredBundle {
  body: Readable;
  size: number;
}

export interface BundleBlobs {
  /** Where uploads are written while they are verified: the controller's own, never served. */
  readonly spoolDir: string;
  /** For logs and messages: `disk <dir>` or `s3 <endpoint>/<bucket>/<prefix>` (no credentials). */
  readonly where: string;
  /** Takes a verified spool file in under `name`; the caller removes the spool file if it is still there. */
  put(name: string, file: string, bundle: { size: number; sha256: string }): Promise<void>;
  /** The bundle stored under `name`, as a stream; undefined when there is none. */
  get(name: string): Promise<StoredBundle | undefined>;
  /** Deletes the bundle under `name`; one already gone is no error. */
  remove(name: string): Promise<void>;
  /** How long a put of `size` bytes may take at most: an upload lock outlives it (release-store.ts). */
  maxPutMs(size: number): number;
  /** Removes what the store made for itself (a private spool directory). */
  close(): void;
}

/** The file or object name of a bundle: its hash in the name, so other content never replaces it. */
export function bundleName(release: { version: string; sha256: string }): string {
  return `${release.version}.${release.sha256.slice(0, 16)}.tar.gz`;
}

/** Today's layout: every bundle a file in `dir`, uploads spooled beside them (one rename into place). */
export function diskBundleBlobs(dir: string): BundleBlobs {
  return {
    spoolDir: dir,
    where: `disk ${dir}`,
    put: async (name, file) => renameSync(file, join(dir, name)),
    get: async (name) => {
      // Opened before it is measured: a cleanup that deletes it meanwhile leaves this download whole.
      const fh = await open(join(dir, name), 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (!fh) return undefined;
      const { size } = await fh.stat();
      return { body: fh.createReadStream(), size };
    },
    remove: (name) => rm(join(dir, name), { force: true }),
    maxPutMs: () => 60_000,
    close: () => {},
  };
}

export interface S3Settings {
  endpoint: string;
  bucket: string;
  region: string;
  prefix: string;
  credentials: S3Credentials;
  /** Every request but a PUT's body and a GET's body: connect, send, first byte of the answer. */
  requestTimeoutMs?: number;
  /** A GET's body that sends nothing for this long is cut (the agent downloads again). */
  idleTimeoutMs?: number;
}

/** A PUT is allowed this long plus one ms per KiB (1 MiB/s): 512 MiB may take ~9 minutes, a small one 30 s. */
const PUT_BASE_MS = 30_000;

/** S3's own error code from its XML reply (`<Code>AccessDenied</Code>`); never the rest of the body. */
async function s3Code(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  return /<Code>([A-Za-z0-9.]{1,64})<\/Code>/.exec(text.slice(0, 4096))?.[1] ?? 'no error code';
}

/**
 * Bundles as objects `<prefix><name>` in one bucket, signed with SigV4 by aws4fetch over Node's fetch.
 * Path-style URLs (endpoint/bucket/key) work with AWS and every S3-compatible server without DNS per bucket.
 */
export function s3BundleBlobs(s: S3Settings, spoolDir: string, ownSpool = false): BundleBlobs {
  // retries 0: aws4fetch would resend a 5xx up to 10 times, which a streamed body cannot be; a failure
  // is the caller's to see (503, retryable), not hidden behind minutes of quiet retries.
  const client = new AwsClient({ ...s.credentials, service: 's3', region: s.region, retries: 0 });
  const base = `${s.endpoint.replace(/\/+$/, '')}/${s.bucket}/`;
  const requestMs = s.requestTimeoutMs ?? 30_000;
  const idleMs = s.idleTimeoutMs ?? 60_000;
  const where = `s3 ${base}${s.prefix}`;
  const urlOf = (name: string) => base + (s.prefix + name).split('/').map(encodeURIComponent).join('/');

  const unavailable = (op: string, name: string, why: string, cause?: unknown) =>
    new HttpAgentError('RELEASE_STORE_UNAVAILABLE', `the release store (${where}) ${why} on ${op} ${s.prefix}${name}`, { cause, retryAfterSec: 30 });
  // A failed fetch: its message and cause name the network failure; nothing of the request (headers) is in them.
  const failed = (op: string, name: string, ms: number, err: unknown) => {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `did not answer within ${ms} ms` : `is unreachable: ${e.cause?.code ?? e.cause?.message ?? e.message}`;
    return unavailable(op, name, why, err);
  };
  const refused = async (op: string, name: string, res: Response) => unavailable(op, name, `answered ${res.status} ${await s3Code(res)}`);

  const maxPutMs = (size: number) => PUT_BASE_MS + Math.ceil(size / 1024);

  return {
    spoolDir,
    where,
    maxPutMs,
    async put(name, file, bundle) {
      const ms = maxPutMs(bundle.size);
      // A Blob backed by the file: fetch streams it and sends its Content-Length (S3 wants one). The
      // payload's sha256 is signed as it is known, so S3 refuses a body changed on the way.
      const body = await openAsBlob(file);
      let res: Response;
      try {
        res = await client.fetch(urlOf(name), {
          method: 'PUT',
          body,
          headers: { 'content-type': 'application/gzip', 'x-amz-content-sha256': bundle.sha256 },
          signal: AbortSignal.timeout(ms),
        });
      } catch (err) {
        throw failed('PUT', name, ms, err);
      }
      if (!res.ok) throw await refused('PUT', name, res);
      await res.body?.cancel();
    },
    async get(name) {
      // Not AbortSignal.timeout: that would also cut a long download to a slow agent. The timer bounds the
      // wait for the answer; once the body flows, only a stall (idleMs without a byte) cuts it.
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(new DOMException('timed out', 'TimeoutError')), requestMs);
      let res: Response;
      try {
        res = await client.fetch(urlOf(name), { signal: abort.signal });
        if (res.status === 404) {
          const code = await s3Code(res);
          // A missing key is a missing release; a missing bucket is a store set up wrong.
          if (code === 'NoSuchKey') return undefined;
          throw unavailable('GET', name, `answered 404 ${code}`);
        }
        if (!res.ok || !res.body) throw await refused('GET', name, res);
      } catch (err) {
        throw err instanceof HttpAgentError ? err : failed('GET', name, requestMs, err);
      } finally {
        clearTimeout(timer);
      }
      const size = Number(res.headers.get('content-length') ?? NaN);
      if (!Number.isSafeInteger(size)) {
        await res.body.cancel();
        throw unavailable('GET', name, 'answered without a Content-Length');
      }
      let idle: NodeJS.Timeout | undefined;
      const watch = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          idle?.refresh();
          cb(null, chunk);
        },
        flush(cb) {
          clearTimeout(idle);
          cb();
        },
      });
      const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      idle = setTimeout(() => watch.destroy(unavailable('GET', name, `sent nothing for ${idleMs} ms`)), idleMs);
      // The agent hung up (watch destroyed): the S3 download is cancelled with it, not read to the end.
      watch.once('close', () => {
        clearTimeout(idle);
        body.destroy();
      });
      body.once('error', (err) => watch.destroy(err));
      body.pipe(watch);
      return { body: watch, size };
    },
    async remove(name) {
      let res: Response;
      try {
        res = await client.fetch(urlOf(name), { method: 'DELETE', signal: AbortSignal.timeout(requestMs) });
      } catch (err) {
        throw failed('DELETE', name, requestMs, err);
      }
      // S3 answers 204 for a key that is not there too; some servers say 404.
      if (!res.ok && res.status !== 404) throw await refused('DELETE', name, res);
      await res.body?.cancel();
    },
    close: () => {
      if (ownSpool) rmSync(spoolDir, { recursive: true, force: true });
    },
  };
}

/**
 * The store the settings name: S3 when releaseS3Endpoint is set (spooling to releaseDir, else to a
 * private directory made now and removed on close), else releaseDir's disk; undefined: the channel is off.
 */
export function createBundleBlobs(
  config: Pick<ControllerConfig, 'releaseDir' | 'releaseS3Endpoint' | 'releaseS3Bucket' | 'releaseS3Region' | 'releaseS3Prefix'>,
  credentials: S3Credentials | undefined,
): BundleBlobs | undefined {
  if (config.releaseS3Endpoint && config.releaseS3Bucket) {
    if (!credentials) throw new ConfigError('releaseS3Endpoint is set but no access key was read: set releaseS3CredentialsFile');
    const settings = { endpoint: config.releaseS3Endpoint, bucket: config.releaseS3Bucket, region: config.releaseS3Region, prefix: config.releaseS3Prefix, credentials };
    if (config.releaseDir) {
      mkdirSync(config.releaseDir, { recursive: true });
      return s3BundleBlobs(settings, config.releaseDir);
    }
    // mkdtemp makes it 0700: an upload not yet verified is nobody else's to read.
    return s3BundleBlobs(settings, mkdtempSync(join(tmpdir(), 'httpagent-release-spool-')), true);
  }
  return config.releaseDir ? diskBundleBlobs(config.releaseDir) : undefined;
}
