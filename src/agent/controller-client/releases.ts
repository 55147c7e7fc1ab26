// Release channel resource: which release this agent should run (the controller decides the canary) and
// the bundle's download, bounded in size and time, with the agent's own credential.
import type { ControllerHttp } from '../../shared/client/controller-http.js';
import { downloadBundle } from '../../shared/bundle/bundle-download.js';
import { latestReplySchema, releasePaths, type LatestReply } from '../../shared/protocol/releases.js';

export interface ReleasesResource {
  latest(channel: string): Promise<LatestReply>;
  /** Writes the bundle at `path` (as `latest` gave it) to `dest`; returns its sha256 and size. */
  download(path: string, dest: string, opts: { maxBytes: number; timeoutMs: number; signal?: AbortSignal }): Promise<{ sha256: string; bytes: number }>;
}

export function releasesResource(http: ControllerHttp, base: { controllerUrl: string; credential: () => string }): ReleasesResource {
  return {
    latest: (channel) => http.call(releasePaths.latest, latestReplySchema, { query: { channel } }),
    download: (path, dest, opts) => {
      // The bundle streams to a file, which the pooled JSON transport does not do; the same origin and credential.
      const url = new URL(path.replace(/^\//, ''), base.controllerUrl.endsWith('/') ? base.controllerUrl : `${base.controllerUrl}/`);
      return downloadBundle(url.toString(), dest, { ...opts, headers: { authorization: `Bearer ${base.credential()}` } });
    },
  };
}
