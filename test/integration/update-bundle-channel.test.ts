// Bundle self-update of the real agent through the controller's release channel: a supervised agent
// (updateSource: bundle, allowed signers set) runs release A; the platform PUTs a signed bundle of B and
// the agent downloads, verifies, unpacks, self-tests, switches and comes back on B with every job through
// the update succeeded and not one request to the npm registry. Then a bundle signed by a key outside the
// allowed signers is refused with one log line and one mail, never fetched again, the running release
// untouched, and the fixed bundle pushed after it is taken. Real redis, controller, supervisord, agent,
// SMTP sink, ssh-keygen keys and tarballs; releases are made from this run's dist (quick-release.ts).
import { createServer, type Server } from 'node:http';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJobFeeder } from './job-feeder.js';
import { packBundle } from '../../src/ops/bundle-pack.js';
import { releaseLayout, switchCurrent } from '../../src/ops/release-layout.js';
import { readUpdateState, updateStatePath } from '../../src/ops/update-state.js';
import { newSigningKey, writeAllowedSigners } from '../helpers/bundles.js';
import { freePort } from '../helpers/ports.js';
import { quickRelease } from '../helpers/quick-release.js';
import { startRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { asRoot, TEST_TASK_USER, tempDirTasksCanRead } from '../helpers/task-user.js';
import { WaitAbort, waitUntil } from '../helpers/wait.js';
import { ENROLL_TOKEN, agentBody, call, credentialFor, startController, type Running } from './controller-harness.js';
import { fileTail, startSmtp, startSupervisord, type PrivateSmtp, type PrivateSupervisord } from './ops-helpers.js';

const AGENT_ID = 'bundle-agent';
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const D = 'd'.repeat(40);
const E = 'e'.repeat(40);

let dir: string;
let redis: PrivateRedis;
let ctl: Running;
let smtp: PrivateSmtp;
let sup: PrivateSupervisord | undefined;
let registry: Server;
let registryHits = 0;
let port: number;
let prefix: string;
let stateDir: string;
const bundle: Record<string, Buffer> = {};
const version = (commit: string) => `0.1.0-${commit.slice(0, 12)}`;

beforeAll(async () => {
  dir = tempDirTasksCanRead('httpagent-bundle-update-');
  redis = await startRedis();
  smtp = await startSmtp();
  ctl = await startController(redis.url, { longPollMs: 1000, releaseDir: join(dir, 'controller-releases') });
  // Stands in for the npm registry: any request at all is counted (the agent must make none).
  registry = createServer((_req, res) => {
    registryHits++;
    res.writeHead(503).end();
  });
  await new Promise<void>((r) => registry.listen(0, '127.0.0.1', () => r()));
  const registryUrl = `http://127.0.0.1:${(registry.address() as { port: number }).port}/`;

  prefix = join(dir, 'prefix');
  const layout = releaseLayout(prefix);
  switchCurrent(layout, await quickRelease(join(layout.releasesDir, A.slice(0, 12)), A));

  const trusted = await newSigningKey(dir, 'release-key');
  const stranger = await newSigningKey(dir, 'stranger-key');
  const signers = writeAllowedSigners(join(dir, 'allowed_signers'), [trusted]);
  // One release tree packed under four commits: B, D and E signed by the trusted key, C by a stranger.
  const tree = await quickRelease(join(dir, 'build'), B);
  for (const [commit, key] of [[B, trusted], [C, stranger], [D, trusted], [E, trusted]] as const) {
    writeFileSync(join(tree, 'COMMIT'), `${commit}\n`);
    bundle[commit] = readFileSync((await packBundle({ releaseDir: tree, outDir: join(dir, 'bundles'), signingKey: key.key })).file);
  }
  rmSync(tree, { recursive: true, force: true });

  port = await freePort();
  stateDir = join(dir, 'state');
  const tasks = join(dir, 'tasks');
  mkdirSync(tasks);
  writeFileSync(join(tasks, 'work'), '#!/bin/sh\necho working\nsleep 1\necho done\n');
  chmodSync(join(tasks, 'work'), 0o755);
  writeFileSync(join(dir, 'enroll-token'), ENROLL_TOKEN, { mode: 0o600 });
  const config = join(dir, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      agentId: AGENT_ID,
      controllerUrl: ctl.url,
      enrollTokenFile: join(dir, 'enroll-token'),
      listen: `127.0.0.1:${port}`,
      stateDir,
      tasksDir: tasks,
      ...(asRoot ? { taskUser: TEST_TASK_USER } : {}),
      drainGraceSec: 20,
      updateSource: 'bundle',
      updateChannel: 'stable',
      updateAllowedSigners: signers,
      updateCron: '*/2 * * * * *',
      updateSplaySec: 0,
      updateDeadlineSec: 60,
      updatePrefix: prefix,
      smtpUrl: smtp.url,
      alertTo: 'ops@example.test',
    }),
    { mode: 0o600 },
  );
  writeFileSync(
    join(dir, 'agent.conf'),
    `[program:agent]\ncommand=${process.execPath} ${prefix}/current/dist/src/bin/httpagent.js agent --config ${config}\n` +
      `autorestart=true\nstartsecs=2\nstartretries=5\nstopsignal=TERM\nstopwaitsecs=40\nstopasgroup=true\nkillasgroup=true\n` +
      `redirect_stderr=true\nstdout_logfile=${join(dir, 'agent.log')}\n` +
      `environment=npm_config_registry="${registryUrl}",npm_config_update_notifier="false"\n`,
  );
  sup = await startSupervisord(join(dir, 'sup'), [join(dir, 'agent.conf')]);
}, 420_000); // three bundles packed and two releases copied: minutes on a loaded two-core machine

afterAll(async () => {
  await sup?.shutdown();
  await ctl?.close();
  await smtp?.close();
  await new Promise((r) => registry?.close(r));
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function healthCommit(): Promise<string | undefined> {
  try {
    const token = (await call(ctl.url, 'POST', `/v1/agents/${AGENT_ID}/token`, { body: {} })).body.token as string;
    const res = await request(`http://127.0.0.1:${port}/healthz`, { headers: { authorization: `Bearer ${token}` }, headersTimeout: 5000 });
    return ((await res.body.json()) as { commit?: string }).commit ?? undefined;
  } catch {
    return undefined;
  }
}

const agentLog = () => (existsSync(join(dir, 'agent.log')) ? readFileSync(join(dir, 'agent.log'), 'utf8') : '');
const explain = () =>
  [
    `--- update state: ${JSON.stringify(readUpdateState(updateStatePath(stateDir)))}`,
    fileTail(join(stateDir, 'update', 'guard.log')),
    fileTail(join(dir, 'sup', 'supervisord.log'), 20),
    `--- agent self-update lines\n${agentLog().split('\n').filter((l) => /self-update|bundle|exiting/.test(l)).slice(-15).join('\n')}`,
  ].join('\n');

async function publish(commit: string, query = ''): Promise<void> {
  const r = await call(ctl.url, 'PUT', `/v1/releases/${version(commit)}${query}`, { raw: bundle[commit]!, contentType: 'application/gzip' });
  expect(r.status, r.text).toBe(201);
}

async function onCommit(commit: string): Promise<void> {
  await waitUntil(
    `agent serving commit ${commit.slice(0, 12)}`,
    async () => {
      const failed = readUpdateState(updateStatePath(stateDir)).failed;
      if (failed?.commit === commit) throw new WaitAbort(`the update to ${commit.slice(0, 12)} failed (${failed.reason}): ${failed.detail}\n${explain()}`);
      return (await healthCommit()) === commit;
    },
    { timeoutMs: 150_000, intervalMs: 250, explain },
  );
}

describe('bundle self-update through the release channel', () => {
  it('moves to a published bundle with every job through the update succeeded and no registry call', async () => {
    await onCommit(A);
    const feeder = startJobFeeder(ctl.url, AGENT_ID);
    try {
      await publish(B);
      const publishedAt = Date.now();
      await onCommit(B);
      process.stdout.write(`bundle update: B serving ${((Date.now() - publishedAt) / 1000).toFixed(1)} s after the PUT\n`);
      await waitUntil('guard confirmed B', () => readUpdateState(updateStatePath(stateDir)).confirmed === B, { timeoutMs: 60_000, explain });
    } finally {
      await feeder.stop();
    }
    const states = await feeder.allFinal(explain);
    expect(feeder.submitErrors).toEqual([]);
    expect(feeder.ids.length).toBeGreaterThan(2);
    expect(states.filter((s) => s !== 'succeeded')).toEqual([]);
    expect(registryHits).toBe(0);
    expect(existsSync(join(prefix, 'releases', B.slice(0, 12), '.release-ok'))).toBe(true);
  }, 300_000);

  it('refuses a bundle signed by another key once, with one mail, keeps serving, and takes the fixed one', async () => {
    await publish(C);
    await waitUntil('the refusal recorded', () => readUpdateState(updateStatePath(stateDir)).refusedBundles?.length === 1, { timeoutMs: 60_000, explain });
    // The subject may be folded over two lines.
    await smtp.waitFor(/refused\s+\(BUNDLE_BAD_SIGNATURE\)/);
    expect(await healthCommit()).toBe(B);
    expect(existsSync(join(prefix, 'releases', C.slice(0, 12)))).toBe(false);

    // The fixed release after the bad one: taken, and only then is the count of refusals final.
    await publish(D);
    await onCommit(D);
    // The guard of this switch outlives the test otherwise (it runs detached, outside supervisord).
    await waitUntil('guard confirmed D', () => readUpdateState(updateStatePath(stateDir)).confirmed === D, { timeoutMs: 60_000, explain });
    const refusedLines = agentLog().split('\n').filter((l) => l.includes('bundle refused'));
    expect(refusedLines).toHaveLength(1);
    expect(JSON.parse(refusedLines[0]!)).toMatchObject({ code: 'BUNDLE_BAD_SIGNATURE', version: version(C) });
    expect(smtp.messages.filter((m) => /refused/.test(m))).toHaveLength(1);
    expect(readdirSync(join(prefix, 'releases')).filter((n) => n.startsWith('c'))).toEqual([]);
    expect(registryHits).toBe(0);
  }, 300_000);

  it('waits for its place in a rollout that lets one agent move at a time, then moves', async () => {
    // Another host of the channel, on D like this agent, is admitted first and has not arrived yet.
    const other = 'first-host';
    await call(ctl.url, 'POST', '/v1/agent/register', { body: { ...agentBody(other), commit: D } });
    await publish(E, '?maxInFlight=1');
    const ask = async (id: string) => (await call(ctl.url, 'GET', '/v1/agent/releases/latest?channel=stable', { token: await credentialFor(ctl.url, id) })).body;
    expect(await ask(other)).toMatchObject({ release: { version: version(E) } });
    await waitUntil('the agent told to wait', () => agentLog().includes('waiting for a place in the rollout'), { timeoutMs: 60_000, explain });
    // Held: nothing of E fetched, D still serving.
    expect(existsSync(join(prefix, 'releases', E.slice(0, 12)))).toBe(false);
    expect(await healthCommit()).toBe(D);
    // The other host runs E now: its registration gives the place on.
    await call(ctl.url, 'POST', '/v1/agent/register', { body: { ...agentBody(other), commit: E } });
    await onCommit(E);
    await waitUntil('guard confirmed E', () => readUpdateState(updateStatePath(stateDir)).confirmed === E, { timeoutMs: 60_000, explain });
    expect(agentLog().split('\n').filter((l) => l.includes('waiting for a place in the rollout'))).toHaveLength(1);
    expect(registryHits).toBe(0);
  }, 300_000);
});
