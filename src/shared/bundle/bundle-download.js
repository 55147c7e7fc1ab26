// Downloads a bundle to a file, bounded in size and time, hashing it on the way: install.sh's `--bundle
// URL` (through release-tool.js) and the agent's bundle updates (from the controller's release channel).
// The file is the caller's to verify (bundle-reader.js); a cut-off download is BUNDLE_TRUNCATED here
// already when the server announced a length, and at the latest when the gzip stream ends early.
import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BundleError } from './bundle-manifest.js';
import { DEFAULT_BUNDLE_MAX_BYTES } from './bundle-reader.js';

/**
 * @typedef {object} DownloadOptions
 * @property {number} [maxBytes]
 * @property {number} [timeoutMs] for the whole download, first byte to last
 * @property {Record<string, string>} [headers]
 * @property {AbortSignal} [signal]
 */

export class DownloadError extends Error {
  /**
   * @param {string} message
   * @param {number | undefined} status the HTTP status, when the server answered
   * @param {unknown} [cause]
   */
  constructor(message, status, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'DownloadError';
    /** @readonly */
    this.status = status;
  }
}

/**
 * @param {string} url
 * @param {string} dest a new file (refused if it exists)
 * @param {DownloadOptions} opts
 * @returns {Promise<{ sha256: string, bytes: number }>}
 */
export async function downloadBundle(url, dest, opts) {
  const maxBytes = opts.maxBytes ?? DEFAULT_BUNDLE_MAX_BYTES;
  const signals = [AbortSignal.timeout(opts.timeoutMs ?? 10 * 60_000), ...(opts.signal ? [opts.signal] : [])];
  const signal = AbortSignal.any(signals);
  /** @type {Response} */
  let res;
  try {
    res = await fetch(url, { headers: opts.headers ?? {}, signal, redirect: 'error' });
  } catch (err) {
    throw new DownloadError(`GET ${redact(url)}: ${err instanceof Error ? err.message : String(err)}`, undefined, err);
  }
  if (res.status !== 200 || !res.body) {
    const text = (await res.text().catch(() => '')).slice(0, 300);
    throw new DownloadError(`GET ${redact(url)} answered ${res.status}${text ? `: ${text}` : ''}`, res.status);
  }
  const announced = Number(res.headers.get('content-length') ?? NaN);
  if (announced > maxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw new BundleError('BUNDLE_TOO_LARGE', `the bundle is ${announced} bytes, more than the ${maxBytes} allowed`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const count = new Transform({
    transform(chunk, _enc, cb) {
      bytes += chunk.length;
      if (bytes > maxBytes) return cb(new BundleError('BUNDLE_TOO_LARGE', `the bundle is more than the ${maxBytes} bytes allowed`));
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  const out = createWriteStream(dest, { flags: 'wx', mode: 0o600 });
  try {
    await pipeline(Readable.fromWeb(/** @type {import('node:stream/web').ReadableStream<Uint8Array>} */ (res.body)), count, out);
  } catch (err) {
    // A stream destroyed before its open finished still opens (creates) the file afterwards: removed before
    // that, the file would reappear, and the next download to this name would fail on it (EEXIST).
    if (!out.closed) await new Promise((resolve) => out.once('close', () => resolve(undefined)));
    rmSync(dest, { force: true });
    if (err instanceof BundleError) throw err;
    if (signal.aborted) throw new DownloadError(`GET ${redact(url)}: stopped after ${bytes} bytes (${signals[0]?.aborted ? 'timed out' : 'aborted'})`, 200, err);
    throw new BundleError('BUNDLE_TRUNCATED', `the download of ${redact(url)} broke off after ${bytes} bytes: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  if (Number.isFinite(announced) && bytes !== announced) {
    rmSync(dest, { force: true });
    throw new BundleError('BUNDLE_TRUNCATED', `the download of ${redact(url)} ended after ${bytes} of ${announced} bytes`);
  }
  return { sha256: hash.digest('hex'), bytes };
}

/**
 * A URL without its user info or query, for messages and logs.
 * @param {string} url
 * @returns {string}
 */
function redact(url) {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(a malformed URL)';
  }
}
