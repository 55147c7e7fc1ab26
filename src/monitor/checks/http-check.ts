// An HTTP health check: a 2xx answer within the timeout passes (the agent's /healthz and extra checks).
import type { Observation } from '../alerts/alert-engine.js';
import type { HttpCaller } from '../monitor-http.js';

/** `caller` is the check runner's keep-alive caller: a check every 10 s reuses its socket. */
export async function httpCheck(name: string, url: string, timeoutMs: number, c: HttpCaller): Promise<Observation> {
  const started = performance.now();
  try {
    const res = await c.call(url, { method: 'GET', timeoutMs, maxBytes: 4096 });
    const ms = Math.round(performance.now() - started);
    if (res.status >= 200 && res.status < 300) return { name, ok: true, detail: `HTTP ${res.status} in ${ms} ms` };
    const body = res.text.slice(0, 200).trim();
    return { name, ok: false, detail: `HTTP ${res.status} from ${url}${body ? `: ${body}` : ''}` };
  } catch (err) {
    return { name, ok: false, detail: (err as Error).message };
  }
}

/** Where to reach the agent's /healthz: a wildcard listen address is reached on loopback. */
export function agentHealthUrl(listen: string): string {
  const idx = listen.lastIndexOf(':');
  let host = listen.slice(0, idx).replace(/^\[(.*)\]$/, '$1');
  const port = listen.slice(idx + 1);
  if (host === '0.0.0.0' || host === '') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}/healthz`;
}
