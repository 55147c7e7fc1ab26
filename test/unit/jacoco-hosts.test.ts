// Which hosts a coverage dump may reach: decided from the request's text, so it is tested as text.
import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../src/shared/config/agent-config.js';
import { createJacocoHostCheck } from '../../src/agent/tasks/jacoco-hosts.js';


describe('createJacocoHostCheck', () => {
  const check = createJacocoHostCheck(['ci-db.example', '10.0.0.5', 'fd00::1']);

  it('allows the loopback address in its usual spellings, and answers the host to connect to', () => {
    expect(check('127.0.0.1')).toBe('127.0.0.1');
    expect(check('::1')).toBe('::1');
    expect(check('[::1]')).toBe('::1');
    expect(check('0:0:0:0:0:0:0:1')).toBe('::1');
    expect(check('LocalHost')).toBe('localhost');
  });

  it('allows listed names and addresses, case and IPv6 spelling aside', () => {
    expect(check('CI-DB.example')).toBe('ci-db.example');
    expect(check('10.0.0.5')).toBe('10.0.0.5');
    expect(check('[fd00:0::1]')).toBe('fd00::1');
  });

  it('refuses everything else with 403 JACOCO_HOST_NOT_ALLOWED, including other spellings of allowed addresses', () => {
    // 127.1, 2130706433 and 010.0.0.5 are addresses to getaddrinfo, but not the ones allowed.
    for (const host of ['127.0.0.2', '127.1', '2130706433', '010.0.0.5', '0.0.0.0', 'db.example', 'ci-db.example.', '::ffff:127.0.0.1', '169.254.169.254']) {
      expect(() => check(host), host).toThrow(expect.objectContaining({ code: 'JACOCO_HOST_NOT_ALLOWED', statusCode: 403 }));
    }
  });

  it('allows only loopback when nothing is listed', () => {
    const loopbackOnly = createJacocoHostCheck([]);
    expect(loopbackOnly('127.0.0.1')).toBe('127.0.0.1');
    expect(() => loopbackOnly('10.0.0.5')).toThrow(expect.objectContaining({ code: 'JACOCO_HOST_NOT_ALLOWED' }));
  });
});

describe('jacoco config keys', () => {
  it('defaults to 64 MiB, a million probes per class and no extra hosts', () => {
    const c = agentConfigSchema.parse({});
    expect([c.jacocoMaxBytes, c.jacocoMaxProbes, c.jacocoHosts]).toEqual([64 * 1024 * 1024, 1_000_000, []]);
  });

  it('reads HTTPAGENT_JACOCO_HOSTS as a comma-separated list and refuses what is not a host', () => {
    expect(agentConfigSchema.parse({ jacocoHosts: ' 10.0.0.5, ci-db.example ,[fd00::1]' }).jacocoHosts).toEqual(['10.0.0.5', 'ci-db.example', '[fd00::1]']);
    expect(agentConfigSchema.safeParse({ jacocoHosts: 'http://x/' }).success).toBe(false);
    expect(agentConfigSchema.safeParse({ jacocoMaxProbes: '0' }).success).toBe(false);
  });
});
