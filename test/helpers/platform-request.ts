// One call to a controller's platform API as tests make it: bearer token, JSON body, the reply as
// status, parsed JSON (undefined when the body is not JSON), raw text and headers.

export interface PlatformReply {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

export async function platformRequest(baseUrl: string, token: string, method: string, path: string, body?: unknown, timeoutMs?: number): Promise<PlatformReply> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(timeoutMs !== undefined ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}
