import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfigSchema, agentEnvOnly, allConfigKeys, controllerConfigSchema, envNameFor, loadConfig, monitorConfigSchema, retiredAgentSettings } from '../../src/shared/config/index.js';
import { HttpAgentError } from '../../src/shared/errors.js';

/** What a controller's environment holds; the agent needs none of it. */
const tokens = { HTTPAGENT_PLATFORM_TOKEN: 'p'.repeat(24) + 'q' };

function expectConfigError(fn: () => unknown, fragment: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HttpAgentError);
    expect((err as HttpAgentError).code).toBe('CONFIG_INVALID');
    expect((err as Error).message).toMatch(fragment);
    return;
  }
  throw new Error('expected a config error');
}

describe('config', () => {
  it('maps camelCase keys to HTTPAGENT_ names', () => {
    expect(envNameFor('deleteRoots')).toBe('HTTPAGENT_DELETE_ROOTS');
    expect(envNameFor('metricsIntervalSec')).toBe('HTTPAGENT_METRICS_INTERVAL_SEC');
  });

  it('reads env values into typed settings', () => {
    const cfg = loadConfig(agentConfigSchema, {
      env: { HTTPAGENT_CONCURRENCY: '7', HTTPAGENT_LABELS: 'os=linux, zone=b', HTTPAGENT_LEASE_MS: '5000' },
      otherKeys: allConfigKeys,
    });
    expect(cfg.concurrency).toBe(7);
    expect(cfg.labels).toEqual({ os: 'linux', zone: 'b' });
    expect(cfg.leaseMs).toBe(5000);
  });

  it('lets the environment win over the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'concurrency: 3\nlabels:\n  os: linux\nredisUrl: redis://x:1\n');
    const cfg = loadConfig(agentConfigSchema, { file, env: { HTTPAGENT_CONCURRENCY: '9' }, otherKeys: allConfigKeys });
    expect(cfg.concurrency).toBe(9);
    expect(cfg.labels).toEqual({ os: 'linux' });
  });

  it('names the key and the expectation of a bad value', () => {
    expectConfigError(
      () => loadConfig(agentConfigSchema, { env: { HTTPAGENT_CONCURRENCY: 'lots' }, otherKeys: allConfigKeys }),
      /HTTPAGENT_CONCURRENCY: .*number.*got "lots"/,
    );
    expectConfigError(
      () => loadConfig(controllerConfigSchema, { env: { ...tokens, HTTPAGENT_REDIS_URL: 'http://nope' }, otherKeys: allConfigKeys }),
      /HTTPAGENT_REDIS_URL: expected a redis/,
    );
  });

  it('refuses unknown keys in the env and in a file, with a suggestion', () => {
    expectConfigError(
      () => loadConfig(agentConfigSchema, { env: { HTTPAGENT_CONCURENCY: '2' }, otherKeys: allConfigKeys }),
      /HTTPAGENT_CONCURENCY: unknown setting \(did you mean "HTTPAGENT_CONCURRENCY"\?\)/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ lables: { a: 'b' } }));
    expectConfigError(() => loadConfig(agentConfigSchema, { file, env: {}, otherKeys: allConfigKeys }), /unknown key "lables" \(did you mean "labels"\?\)/);
  });

  it('never prints a secret value in its message', () => {
    expectConfigError(() => loadConfig(agentConfigSchema, { env: { HTTPAGENT_ENROLL_TOKEN: 'short secret' } }), /HTTPAGENT_ENROLL_TOKEN: expected a token/);
    try {
      loadConfig(agentConfigSchema, { env: { HTTPAGENT_ENROLL_TOKEN: 'short secret' } });
    } catch (err) {
      expect((err as Error).message).not.toContain('short secret');
    }
  });

  it('refuses the shared tokens of old on the agent and the monitor, saying what replaced them, never their value', () => {
    const secret = 'old-shared-secret-0123456789';
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    for (const schema of [agentConfigSchema, monitorConfigSchema]) {
      const sources = { otherKeys: allConfigKeys, retired: retiredAgentSettings };
      expectConfigError(() => loadConfig(schema, { ...sources, env: { HTTPAGENT_AGENT_TOKEN: secret } }), /HTTPAGENT_AGENT_TOKEN: no longer a setting.*credential.*enrollTokenFile/);
      expectConfigError(() => loadConfig(schema, { ...sources, env: { HTTPAGENT_PLATFORM_TOKEN: secret } }), /HTTPAGENT_PLATFORM_TOKEN: no longer a setting.*port token/);
      for (const key of ['agentToken', 'platformToken']) {
        const file = join(dir, `${key}.yaml`);
        writeFileSync(file, `${key}: ${secret}\n`);
        expectConfigError(() => loadConfig(schema, { ...sources, file, env: {} }), new RegExp(`${key} is no longer a setting`));
        try {
          loadConfig(schema, { ...sources, file, env: {} });
        } catch (err) {
          expect((err as Error).message).not.toContain(secret);
        }
      }
    }
  });

  it('takes the enrollment token from the environment only', () => {
    const token = 'enroll-token-0123456789abcdef';
    const sources = { otherKeys: allConfigKeys, retired: retiredAgentSettings, envOnly: agentEnvOnly };
    expect(loadConfig(agentConfigSchema, { ...sources, env: { HTTPAGENT_ENROLL_TOKEN: token } }).enrollToken).toBe(token);
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `enrollToken: ${token}\nenrollTokenFile: /etc/httpagent/enroll-token\n`);
    expectConfigError(() => loadConfig(agentConfigSchema, { ...sources, file, env: {} }), /enrollToken may not be written in a file.*enrollTokenFile/);
    writeFileSync(file, 'enrollTokenFile: /etc/httpagent/enroll-token\n');
    expect(loadConfig(agentConfigSchema, { ...sources, file, env: {} }).enrollTokenFile).toBe('/etc/httpagent/enroll-token');
  });

  it('keeps /metrics behind a port token unless metricsPublic says otherwise', () => {
    expect(loadConfig(agentConfigSchema, { env: {} }).metricsPublic).toBe(false);
    expect(loadConfig(agentConfigSchema, { env: { HTTPAGENT_METRICS_PUBLIC: 'true' } }).metricsPublic).toBe(true);
  });
});
