// Per-agent identity on real processes (redis-server, `httpagent controller`, `httpagent agent`): what a
// stolen host credential or port token is worth. A port token opens one agent's port and no other's, an
// expired or foreign-signed one opens nothing, the platform token opens nothing; the credential sits in
// a 0600 file and never in a log line; a revoked agent stops mid-job and another agent finishes the job.
import { readFileSync, statSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testSigningKeyFile, TEST_ENROLL_TOKEN } from '../helpers/identity.js';
import { PLATFORM_TOKEN, startJobSystem, type AgentHandle, type JobSystem } from '../helpers/job-system.js';
import { createPortTokenSigner, forgedTokens } from '../helpers/port-tokens.js';
import { spawnHttpagent } from '../helpers/processes.js';

/** A light task the fixture tasks dir has. */
const RUN = { task: 'say', params: { text: 'hi' } };

let sys: JobSystem;
let a: AgentHandle;
let b: AgentHandle;

beforeAll(async () => {
  sys = await startJobSystem({ leaseMs: 2000 });
  [a, b] = await Promise.all([sys.startAgent('id-a'), sys.startAgent('id-b')]);
  // Enrolled and registered: both are listed online.
  await sys.waitFor('both agents online', async () => {
    const agents = (await sys.platform('GET', '/v1/agents')).json as Array<{ id: string; state: string }>;
    return ['id-a', 'id-b'].every((id) => agents.some((x) => x.id === id && x.state === 'online'));
  }, 60_000);
}, 180_000);

afterAll(async () => {
  await sys?.stop();
});

describe('the port takes port tokens for itself only', () => {
  it('refuses a port token minted for agent A at agent B, and takes it at A', async () => {
    const forA = await sys.portToken('id-a');
    const atB = await sys.agentPort(b, 'POST', '/v1/run', RUN, forA);
    expect(atB.status).toBe(401);
    expect(atB.json.error.code).toBe('UNAUTHORIZED');
    expect((await sys.agentPort(a, 'POST', '/v1/run', RUN, forA)).status).toBe(200);
  });

  it('refuses an expired token, one signed by an unknown key, forged algorithms and the platform token', async () => {
    // The controller's own key, to make what it would never mint: an expired token.
    const controllerKey = await createPortTokenSigner(readFileSync(testSigningKeyFile(), 'utf8'));
    const stranger = await createPortTokenSigner();
    const now = Math.floor(Date.now() / 1000);
    const forged = forgedTokens('id-a', controllerKey.publicPem);
    const refused: Record<string, string> = {
      expired: await controllerKey.mint('id-a', { iat: now - 200, exp: now - 60 }),
      'signed by an unknown key': await stranger.mint('id-a'),
      'unknown key under the controller kid': await stranger.mint('id-a', { kid: controllerKey.kid }),
      hs256: forged.hs256,
      'alg none': forged.none,
      'the platform token': PLATFORM_TOKEN,
      'the enrollment token': TEST_ENROLL_TOKEN,
      "the agent's own credential": a.credential(),
    };
    for (const [why, token] of Object.entries(refused)) {
      const r = await sys.agentPort(a, 'POST', '/v1/run', RUN, token);
      expect(r.status, why).toBe(401);
      expect(r.json.error.code, why).toBe('UNAUTHORIZED');
    }
    // The same key within the rules is taken: the refusals above were for what they say.
    expect((await sys.agentPort(a, 'POST', '/v1/run', RUN, await controllerKey.mint('id-a'))).status).toBe(200);
  });

  it('says nothing but ok and state on /healthz without a token, everything with one', async () => {
    const bare = await sys.agentPort(a, 'GET', '/healthz', undefined, null);
    expect(bare.status).toBe(200);
    expect(bare.json).toEqual({ ok: true, state: 'online' });
    const full = await sys.agentPort(a, 'GET', '/healthz');
    expect(full.json).toMatchObject({ ok: true, state: 'online', agentId: 'id-a', controllerReachable: true, revoked: false });
    expect(typeof full.json.version).toBe('string');
    // Metrics are not public by default.
    expect((await sys.agentPort(a, 'GET', '/metrics', undefined, null)).status).toBe(401);
  });
});

describe('the credential on the host', () => {
  it('is a 0600 file of the agent user, the enrollment token file is gone, and neither secret is in the log', () => {
    const file = join(a.stateDir, 'credential');
    const st = statSync(file);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid!());
    const credential = a.credential();
    expect(credential).toMatch(/^ha1:id-a:[A-Za-z0-9_-]{43}$/);
    expect(existsSync(a.enrollTokenFile)).toBe(false);
    const secret = credential.split(':')[2]!;
    const log = a.output();
    expect(log).toContain('"msg":"enrolled: credential saved"');
    expect(log).not.toContain(secret);
    expect(log).not.toContain(TEST_ENROLL_TOKEN);
    // The port keys it got are public keys only, kept beside it.
    const keys = JSON.parse(readFileSync(join(a.stateDir, 'port-keys.json'), 'utf8')) as { keys: Array<Record<string, unknown>> };
    expect(keys.keys.length).toBeGreaterThan(0);
    for (const k of keys.keys) expect(Object.keys(k).sort()).toEqual(['crv', 'kid', 'kty', 'x']);
  });

  it('speaks for its own agent only: another agent’s job is not found with it', async () => {
    const ownId = (await sys.agentApi('POST', '/v1/agent/jobs', { task: 'say', params: { text: 'mine' } }, a)).json.id as string;
    expect((await sys.agentApi('GET', `/v1/agent/jobs/${ownId}`, undefined, a)).json).toMatchObject({ id: ownId, target: { agent: 'id-a' } });
    const other = await sys.agentApi('GET', `/v1/agent/jobs/${ownId}`, undefined, b);
    expect(other.status).toBe(404);
    expect(other.json.error.code).toBe('JOB_NOT_FOUND');
    const platformJob = await sys.submit({ task: 'say', params: { text: 'platform' }, agent: 'id-b' });
    expect((await sys.agentApi('GET', `/v1/agent/jobs/${platformJob}`, undefined, a)).status).toBe(404);
    await sys.waitFinal(ownId);
    await sys.waitFinal(platformJob);
  });

  it('an agent refuses to start with the shared tokens of old, or with no credential and no enrollment token', async () => {
    for (const [env, says] of [
      [{ HTTPAGENT_AGENT_TOKEN: 'old-shared-agent-token-0123456789' }, /HTTPAGENT_AGENT_TOKEN: no longer a setting.*enrollTokenFile/],
      [{ HTTPAGENT_PLATFORM_TOKEN: PLATFORM_TOKEN }, /HTTPAGENT_PLATFORM_TOKEN: no longer a setting.*port token/],
      [{}, /has not enrolled.*enrollTokenFile/],
    ] as const) {
      const p = spawnHttpagent(['agent'], { HTTPAGENT_AGENT_ID: 'refused', HTTPAGENT_CONTROLLER_URL: sys.controllerUrl, HTTPAGENT_STATE_DIR: join(sys.tmp, 'state-refused'), HTTPAGENT_LISTEN: '127.0.0.1:0', ...env });
      expect(await p.exited()).toBe(2);
      expect(p.output()).toMatch(/CONFIG_INVALID/);
      expect(p.output()).toMatch(says);
      expect(p.output()).not.toContain(PLATFORM_TOKEN);
    }
    // A config file holding the enrollment token is refused too: it would stay on the host.
    const file = join(sys.tmp, 'enroll-in-file.json');
    writeFileSync(file, JSON.stringify({ agentId: 'refused', enrollToken: TEST_ENROLL_TOKEN }));
    const p = spawnHttpagent(['agent', '--config', file], { HTTPAGENT_STATE_DIR: join(sys.tmp, 'state-refused') });
    expect(await p.exited()).toBe(2);
    expect(p.output()).toMatch(/enrollToken may not be written in a file/);
    expect(p.output()).not.toContain(TEST_ENROLL_TOKEN);
  });

  it('a credential the controller never issued: the agent says which file to fix and keeps trying slowly', async () => {
    const stateDir = join(sys.tmp, 'state-forged');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(stateDir, 'credential'), `ha1:forged:${'A'.repeat(43)}\n`, { mode: 0o600 });
    const forged = await sys.startAgent('forged', { HTTPAGENT_STATE_DIR: stateDir });
    await forged.waitFor(/does not accept this agent's credential \([^)]*state-forged\/credential\).*enrollTokenFile/, 60_000);
    expect(forged.proc.exitCode).toBeNull();
    await forged.kill('SIGTERM');
  });
});

describe('revocation', () => {
  it('a revoked agent stops its job and claims no more; the job is re-delivered and succeeds on another agent', async () => {
    const doomed = await sys.startAgent('rev-doomed', { HTTPAGENT_LABELS: 'pool=rev', HTTPAGENT_CONCURRENCY: '1' });
    await sys.waitFor('rev-doomed online', async () => ((await sys.platform('GET', '/v1/agents')).json as Array<{ id: string; state: string }>).some((x) => x.id === 'rev-doomed' && x.state === 'online'), 60_000);
    const id = await sys.submit({ task: 'ticker', params: { seconds: '4' }, labels: { pool: 'rev' }, maxAttempts: 3 });
    await sys.waitFor('the job running on rev-doomed', async () => {
      const j = await sys.job(id);
      return j.state === 'running' && j.agent === 'rev-doomed';
    }, 60_000);

    const revoked = await sys.platform('DELETE', '/v1/agents/rev-doomed');
    expect(revoked.status).toBe(200);
    expect(revoked.json).toMatchObject({ agentId: 'rev-doomed', revoked: true });
    await doomed.waitFor(/"msg":"the controller revoked this agent's credential[^"]*enrollTokenFile[^"]*"/, 30_000);
    await doomed.waitFor(/"to":"revoked"/);

    const rescuer = await sys.startAgent('rev-rescuer', { HTTPAGENT_LABELS: 'pool=rev' });
    const job = await sys.waitFinal(id, 90_000);
    expect(job).toMatchObject({ state: 'succeeded', agent: 'rev-rescuer' });
    expect(job.attempt).toBeGreaterThan(1);

    // Still up, taking no work; the port says so without a token (no token can be minted for it now).
    expect(doomed.proc.exitCode).toBeNull();
    expect((await sys.agentPort(doomed, 'GET', '/healthz', undefined, null)).json).toEqual({ ok: true, state: 'draining' });
    expect((await sys.platform('POST', '/v1/agents/rev-doomed/token', {})).status).toBe(404);
    // One line said it; the agent went quiet after it (the calls already in flight come back refused, the
    // stopped job is dropped), while a retry loop would have logged its failures all along.
    const out = doomed.output();
    expect(out.match(/the controller revoked this agent's credential/g)).toHaveLength(1);
    const after = out.slice(out.indexOf("the controller revoked this agent's credential")).split('\n').filter(Boolean);
    expect(after.length, after.join('\n')).toBeLessThanOrEqual(6);
    expect(after.join('\n')).not.toMatch(/claim failed|cannot register|retrying/);
    await rescuer.kill('SIGTERM');
  }, 240_000);
});
