// A real S3-compatible server for tests: s3rver, in a process of its own (it hooks the process's
// uncaught-exception handlers through its logger, so it does not belong inside a test worker), on a port
// the kernel picks on 127.0.0.1, storing in a temp dir. Its access key is its built-in S3RVER/S3RVER.
// s3rver 3.7 checks that the access key id exists but does not verify SigV4 signatures themselves.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AwsClient } from 'aws4fetch';
import { track } from './processes.js';

export const S3RVER_KEY = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface S3Server {
  endpoint: string;
  /** A client with s3rver's key, to look at the bucket behind the controller's back. */
  client: AwsClient;
  /** The URL of `key` in `bucket`, path-style. */
  url(bucket: string, key: string): string;
  /** Every key in `bucket` under `prefix`. */
  list(bucket: string, prefix: string): Promise<string[]>;
  stop(): Promise<void>;
}

const bin = join(dirname(createRequire(import.meta.url).resolve('s3rver/package.json')), 'bin', 's3rver.js');

export async function startS3Server(buckets: string[]): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-s3rver-'));
  const args = [bin, '-d', dir, '-a', '127.0.0.1', '-p', '0', '--no-vhost-buckets', '--silent', ...buckets.flatMap((b) => ['--configure-bucket', b])];
  const proc = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true }));
  let port: number;
  try {
    port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(await proc.waitFor(/listening on 127\.0\.0\.1:\d+/, 30_000))![1]);
  } catch (err) {
    await proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new AwsClient({ ...S3RVER_KEY, service: 's3', region: 'us-east-1', retries: 0 });
  return {
    endpoint,
    client,
    url: (bucket, key) => `${endpoint}/${bucket}/${key}`,
    async list(bucket, prefix) {
      const res = await client.fetch(`${endpoint}/${bucket}?prefix=${encodeURIComponent(prefix)}`, { signal: AbortSignal.timeout(10_000) });
      const xml = await res.text();
      if (!res.ok) throw new Error(`listing ${bucket}: ${res.status} ${xml}`);
      return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!).sort();
    },
    async stop() {
      await proc.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
