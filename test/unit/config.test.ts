import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfigSchema, allConfigKeys, controllerConfigSchema, envNameFor, loadConfig } from '../../src/shared/config/index.js';
import { HttpAgentError } from '../../src/shared/errors.js';

const tokens = { HTTPAGENT_AGENT_TOKEN: 'a'.repeat(20), HTTPAGENT_PLATFORM_TOKEN: 'p'.repeat(20) };

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
      env: { ...tokens, HTTPAGENT_CONCURRENCY: '7', HTTPAGENT_LABELS: 'os=linux, zone=b', HTTPAGENT_LEASE_MS: '5000' },
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
    const cfg = loadConfig(agentConfigSchema, { file, env: { ...tokens, HTTPAGENT_CONCURRENCY: '9' }, otherKeys: allConfigKeys });
    expect(cfg.concurrency).toBe(9);
    expect(cfg.labels).toEqual({ os: 'linux' });
  });

  it('names the key and the expectation of a bad value', () => {
    expectConfigError(
      () => loadConfig(agentConfigSchema, { env: { ...tokens, HTTPAGENT_CONCURRENCY: 'lots' }, otherKeys: allConfigKeys }),
      /HTTPAGENT_CONCURRENCY: .*number.*got "lots"/,
    );
    expectConfigError(
      () => loadConfig(controllerConfigSchema, { env: { ...tokens, HTTPAGENT_REDIS_URL: 'http://nope' }, otherKeys: allConfigKeys }),
      /HTTPAGENT_REDIS_URL: expected a redis/,
    );
  });

  it('refuses unknown keys in the env and in a file, with a suggestion', () => {
    expectConfigError(
      () => loadConfig(agentConfigSchema, { env: { ...tokens, HTTPAGENT_CONCURENCY: '2' }, otherKeys: allConfigKeys }),
      /HTTPAGENT_CONCURENCY: unknown setting \(did you mean "HTTPAGENT_CONCURRENCY"\?\)/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ lables: { a: 'b' } }));
    expectConfigError(() => loadConfig(agentConfigSchema, { file, env: tokens, otherKeys: allConfigKeys }), /unknown key "lables" \(did you mean "labels"\?\)/);
  });

  it('never prints a secret value in its message', () => {
    expectConfigError(() => loadConfig(agentConfigSchema, { env: { ...tokens, HTTPAGENT_AGENT_TOKEN: 'short secret' } }), /HTTPAGENT_AGENT_TOKEN: expected a token/);
    try {
      loadConfig(agentConfigSchema, { env: { ...tokens, HTTPAGENT_AGENT_TOKEN: 'short secret' } });
    } catch (err) {
      expect((err as Error).message).not.toContain('short secret');
    }
  });
});
