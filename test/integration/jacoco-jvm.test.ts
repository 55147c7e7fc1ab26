// POST /v1/coverage/jacoco against a real JVM running Debian's JaCoCo 0.8.6 agent in tcpserver mode;
// every .exec is checked with JaCoCo's own ExecutionDataReader. One JVM for the whole file.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { buildAgentServer } from '../../src/agent/port/agent-server.js';
import { silentLogger } from '../../src/shared/log.js';
import { createAgentMetrics } from '../../src/agent/agent-metrics.js';
import { parseExecFile, probeHit } from '../../src/agent/tasks/jacoco-codec.js';
import { freePort } from '../helpers/ports.js';
import { createPortTokenSigner, ringFor } from '../helpers/port-tokens.js';
import { track, type Spawned } from '../helpers/processes.js';
import { sameUserTasks } from '../helpers/task-launcher.js';

const AGENT_JAR = '/usr/share/java/org.jacoco.agent.jar';
const CORE_JAR = '/usr/share/java/org.jacoco.core.jar';
const haveJava = existsSync(AGENT_JAR) && existsSync(CORE_JAR) && existsSync('/usr/bin/javac');
/** A port token for the agent under test, minted in beforeAll. */
let TOKEN = '';
const sources = fileURLToPath(new URL('../fixtures/jacoco', import.meta.url));

let tmp = '';
let jvm: Spawned | undefined;
let jacocoPort = 0;
let app: FastifyInstance;
let base = '';

/** Runs JaCoCo's reader on an .exec file: { sessions, classes: name → { hit, total, bits } }. */
function javaRead(execFile: string) {
  const out = execFileSync('java', ['-cp', `${tmp}/classes:${CORE_JAR}`, 'ExecReader', execFile], { encoding: 'utf8' });
  expect(out.trim().split('\n').at(-1)).toBe('OK');
  const classes = new Map<string, { hit: number; total: number; bits: string }>();
  let sessions = 0;
  for (const line of out.split('\n')) {
    if (line.startsWith('session ')) sessions++;
    const m = /^class (\S+) (\d+)\/(\d+) ([01]*)$/.exec(line);
    if (m) classes.set(m[1]!, { hit: Number(m[2]), total: Number(m[3]), bits: m[4]! });
  }
  return { sessions, classes };
}

async function dump(body: Record<string, unknown>): Promise<Response> {
  return fetch(`${base}/v1/coverage/jacoco`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ port: jacocoPort, ...body }),
  });
}

async function dumpToFile(name: string, body: Record<string, unknown> = {}): Promise<{ file: string; bytes: Buffer }> {
  const res = await dump(body);
  expect(res.status).toBe(200);
  const bytes = Buffer.from(await res.arrayBuffer());
  const file = join(tmp, name);
  writeFileSync(file, bytes);
  return { file, bytes };
}

describe.skipIf(!haveJava)('JaCoCo dump from a real JVM', () => {
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'httpagent-jacoco-'));
    // The usable -javaagent jar is embedded in Debian's org.jacoco.agent.jar.
    execFileSync('unzip', ['-q', '-o', '-j', AGENT_JAR, 'jacocoagent.jar', '-d', tmp]);
    // 0.8.6 instruments class files up to Java 15: compile for 11.
    execFileSync('javac', ['--release', '11', '-cp', CORE_JAR, '-d', `${tmp}/classes`, ...['App', 'Calculator', 'ExecReader'].map((c) => join(sources, `${c}.java`))]);
    jacocoPort = await freePort();
    const proc = spawn('java', [`-javaagent:${tmp}/jacocoagent.jar=output=tcpserver,port=${jacocoPort},address=127.0.0.1,sessionid=jvm-test`, '-cp', `${tmp}/classes`, 'App'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    jvm = track(proc);
    await jvm.waitFor(/READY/, 30_000);

    const config = agentConfigSchema.parse({ stateDir: join(tmp, 'state') });
    const signer = await createPortTokenSigner();
    TOKEN = await signer.mint(config.agentId, { ttlSec: 300 });
    app = buildAgentServer(config, {
      portKeys: await ringFor(tmp, signer),
      logger: silentLogger(),
      metrics: createAgentMetrics({ processMetrics: false }),
      tasks: sameUserTasks(tmp),
      jobs: { running: () => 0, draining: () => false, revoked: () => false, controllerReachable: () => true, submitJob: async () => ({ id: 'x' }) },
      version: '0.0.0',
      startedAt: Date.now(),
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const addr = app.server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  }, 90_000);

  afterAll(async () => {
    await app?.close();
    if (jvm) {
      jvm.proc.stdin?.end();
      await jvm.kill('SIGKILL');
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('dumps an .exec that JaCoCo reads, showing the probes the test class hit', async () => {
    const { file, bytes } = await dumpToFile('first.exec');
    const java = javaRead(file);
    expect(java.sessions).toBe(1);
    const calc = java.classes.get('Calculator');
    expect(calc).toBeDefined();
    expect(calc!.hit).toBeGreaterThan(0);
    expect(calc!.hit).toBeLessThan(calc!.total); // unused() never ran
    expect(java.classes.get('App')!.hit).toBeGreaterThan(0);
    // Our own parser agrees with JaCoCo's bit for bit.
    const ours = parseExecFile(bytes);
    expect(ours.sessions[0]!.id).toBe('jvm-test');
    const mine = ours.classes.find((c) => c.name === 'Calculator')!;
    const bits = Array.from({ length: mine.probes.count }, (_, i) => (probeHit(mine.probes, i) ? '1' : '0')).join('');
    expect(bits).toBe(calc!.bits);
  });

  it('saves to the state dir, and reset clears the probes for the next dump', async () => {
    const saved = await dump({ reset: true, save: true });
    const summary = (await saved.json()) as { path: string; sessions: number; classes: number; bytes: number };
    expect(summary.sessions).toBe(1);
    expect(summary.classes).toBeGreaterThanOrEqual(2);
    expect(javaRead(summary.path).classes.get('Calculator')!.hit).toBeGreaterThan(0);

    const after = await dumpToFile('after-reset.exec');
    const java = javaRead(after.file);
    expect(java.sessions).toBe(1);
    expect(java.classes.has('Calculator')).toBe(false); // only classes with hits are written
  });

  it('sees new hits after the reset when the code runs again', async () => {
    await dumpToFile('reset.exec', { reset: true });
    expect(javaRead((await dumpToFile('after-own-reset.exec')).file).classes.has('Calculator')).toBe(false);
    jvm!.proc.stdin!.write('work\n');
    await jvm!.waitFor(/DONE work/);
    const { file } = await dumpToFile('again.exec');
    expect(javaRead(file).classes.get('Calculator')!.hit).toBeGreaterThan(0);
  });
});
