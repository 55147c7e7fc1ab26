// An HTTP health check: a 2xx answer within the timeout passes (the agent's /healthz and extra checks).
import { request, type Dispatcher } from 'undici';
import type { Observation } from '../alerts/alert-engine.js';

export async function httpCheck(name: string, url: string, timeoutMs: number, dispatcher?: Dispatcher): Promise<Observation> {
  const started = performance.now();
  try {
    const res = await request(url, {
      method: 'GET',
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
      ...(dispatcher ? { dispatcher } : {}),
    });
    // Read a little of the body for the mail, and always drain it so the socket is reused or freed.
    const body = (await res.body.text()).slice(0, 200).trim();
    const ms = Math.round(performance.now() - started);
    if (res.statusCode >= 200 && res.statusCode < 300) return { name, ok: true, detail: `HTTP ${res.statusCode} in ${ms} ms` };
    return { name, ok: false, detail: `HTTP ${res.statusCode} from ${url}${body ? `: ${body}` : ''}` };
  } catch (err) {
    const e = err as { code?: string; name?: string; message?: string };
    const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${timeoutMs} ms` : (e.code ?? e.message ?? String(err));
    return { name, ok: false, detail: `${url}: ${why}` };
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
