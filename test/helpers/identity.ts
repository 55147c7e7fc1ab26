// Identity for tests: an enrollment token, a port-token signing key written to a private file, and
// enrollment of an agent id at a controller (the credential it answers, which the test then presents).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What every test controller accepts for enrollment (24+ characters, as the controller insists). */
export const TEST_ENROLL_TOKEN = 'test-enroll-token-0123456789abcdef';

/** A fresh Ed25519 private key as PKCS#8 PEM. */
export function ed25519Pem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

let keyFile: string | undefined;

/** A signing-key file (mode 0600) shared by the test file's controllers; removed when the process exits. */
export function testSigningKeyFile(): string {
  if (keyFile) return keyFile;
  const dir = mkdtempSync(join(tmpdir(), 'httpagent-signing-'));
  keyFile = join(dir, 'signing-key.pem');
  writeFileSync(keyFile, ed25519Pem(), { mode: 0o600 });
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return keyFile;
}

export interface EnrollReply {
  status: number;
  json: any;
}

/** POST /v1/agent/enroll as it is: the status and body, for tests of enrollment itself. */
export async function enrollRequest(controllerUrl: string, enrollToken: string, agentId: string): Promise<EnrollReply> {
  const res = await fetch(`${controllerUrl}/v1/agent/enroll`, {
    method: 'POST',
    headers: { authorization: `Bearer ${enrollToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ agentId }),
  });
  return { status: res.status, json: await res.json().catch(() => undefined) };
}

/** Enrolls `agentId` and answers its credential (`ha1:<agentId>:<secret>`); throws unless 201. */
export async function enrollAgent(controllerUrl: string, enrollToken: string, agentId: string): Promise<string> {
  const r = await enrollRequest(controllerUrl, enrollToken, agentId);
  if (r.status !== 201) throw new Error(`enrolling ${agentId} answered ${r.status}: ${JSON.stringify(r.json)}`);
  return r.json.credential as string;
}
