// What people naturally send, accepted where it is meant and refused clearly where it is not: job
// specs from the console's arguments and files, params as numbers, times as ISO or ms (not seconds),
// and schedule time zones and cron patterns at config load.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildJob, parseStep } from '../../src/cli/job-input.js';
import { timeArg } from '../../src/cli/cli-options.js';
import { agentConfigSchema, allConfigKeys, loadConfig } from '../../src/shared/config/index.js';
import { redactUrl } from '../../src/shared/config/fields.js';
import { jobSubmitSchema } from '../../src/shared/protocol/job.js';
import { parseTimeParam } from '../../src/shared/protocol/time-param.js';

const dir = mkdtempSync(join(tmpdir(), 'console-input-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const none = { param: [], step: [], label: [] };

describe('job specs from the console', () => {
  it('TASK with --param, and the options on top', () => {
    expect(buildJob({ ...none, task: 'deploy', param: ['dir=/srv/app', 'note=a=b'], label: ['role=web'], priority: 5, timeout: 60, maxAttempts: 2 })).toEqual({
      task: 'deploy',
      params: { dir: '/srv/app', note: 'a=b' },
      labels: { role: 'web' },
      priority: 5,
      timeoutSec: 60,
      maxAttempts: 2,
    });
  });

  it('--step TASK:k=v,k=v splits on a comma only where a new name= follows', () => {
    expect(parseStep('init')).toEqual({ task: 'init' });
    expect(parseStep('deploy:dir=/srv/app,source=/tmp/a.tgz')).toEqual({ task: 'deploy', params: { dir: '/srv/app', source: '/tmp/a.tgz' } });
    expect(parseStep('say:text=one,two,exit=0')).toEqual({ task: 'say', params: { text: 'one,two', exit: '0' } });
    expect(buildJob({ ...none, step: ['init:dir=/a', 'deploy:dir=/a,source=/b'], agent: 'host-1' })).toEqual({
      steps: [{ task: 'init', params: { dir: '/a' } }, { task: 'deploy', params: { dir: '/a', source: '/b' } }],
      agent: 'host-1',
    });
  });

  it('--file holds the whole job (YAML or JSON; numbers and booleans become strings); options override it', () => {
    const yaml = join(dir, 'job.yaml');
    writeFileSync(yaml, 'steps:\n  - task: noop\n    params: { sleep: 1, verbose: true, ratio: 1.5 }\nlabels: { role: web }\npriority: 1\n');
    expect(buildJob({ ...none, file: yaml, agent: 'host-2', priority: 9 })).toEqual({
      steps: [{ task: 'noop', params: { sleep: '1', verbose: 'true', ratio: '1.5' } }],
      agent: 'host-2',
      priority: 9,
    });
    const json = join(dir, 'job.json');
    writeFileSync(json, JSON.stringify({ task: 'noop', params: { message: 'hi' } }));
    expect(buildJob({ ...none, file: json })).toEqual({ task: 'noop', params: { message: 'hi' } });
  });

  it('refusals name the problem: no form, two forms, a param without TASK, a misspelt field, a bad task name', () => {
    const refused = (a: Parameters<typeof buildJob>[0]) => {
      try {
        buildJob(a);
      } catch (err) {
        expect((err as { code: string }).code).toBe('USAGE');
        return (err as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(refused(none)).toMatch(/give a TASK, --step/);
    expect(refused({ ...none, task: 'a', step: ['b'] })).toMatch(/one of TASK, --step or --file/);
    expect(refused({ ...none, step: ['b'], param: ['x=1'] })).toMatch(/--param goes with TASK/);
    expect(refused({ ...none, task: 'a', agent: 'h', label: ['x=y'] })).toMatch(/--agent or --label, not both/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ task: 'noop', prioirty: 1 }));
    expect(refused({ ...none, file: bad })).toMatch(/unknown field "prioirty"/);
    expect(refused({ ...none, task: '../etc/passwd' })).toMatch(/^job: task: a task is a script name/);
    expect(refused({ ...none, step: ['say:novalue'] })).toMatch(/each param must look like key=value/);
  });
});

describe('params as people write them', () => {
  it('regression: {"sleep":1} was refused; numbers and booleans arrive as their string form', () => {
    const r = jobSubmitSchema.parse({ task: 'noop', params: { sleep: 1, ratio: 0.25, big: 1e21, on: false, text: 'x' } });
    expect(r).toEqual({ task: 'noop', params: { sleep: '1', ratio: '0.25', big: '1e+21', on: 'false', text: 'x' } });
    expect(jobSubmitSchema.safeParse({ task: 'noop', params: { nested: { a: 1 } } }).success).toBe(false);
    expect(jobSubmitSchema.safeParse({ task: 'noop', params: { none: null } }).success).toBe(false);
  });
});

describe('a time in a query', () => {
  it('takes ISO 8601 and epoch ms, and refuses plain seconds instead of reading them as 1970', () => {
    expect(parseTimeParam('1764000000000')).toEqual({ ms: 1764000000000 });
    expect(parseTimeParam('2026-01-31T12:00:00Z')).toEqual({ ms: Date.parse('2026-01-31T12:00:00Z') });
    expect(parseTimeParam('2026-01-31')).toEqual({ ms: Date.parse('2026-01-31') });
    expect(parseTimeParam('2026-01-31T12:00:00.123+02:00')).toEqual({ ms: Date.parse('2026-01-31T12:00:00.123+02:00') });
    expect(parseTimeParam('1764000000')).toEqual({ error: expect.stringMatching(/looks like seconds.*1764000000000/) });
    for (const bad of ['yesterday', '1.5', '-5', '', 'Mon, 01 Jan 2026']) expect(parseTimeParam(bad)).toHaveProperty('error');
  });

  it('the console also takes an age (30m, 2h, 7d)', () => {
    const now = 1_800_000_000_000;
    const arg = timeArg(() => now);
    expect(arg('30m')).toBe(now - 30 * 60_000);
    expect(arg('7d')).toBe(now - 7 * 86_400_000);
    expect(arg('1764000000000')).toBe(1764000000000);
    expect(() => arg('1764000000')).toThrow(/looks like seconds/);
  });
});

describe('schedules at config load', () => {
  const load = (schedules: unknown[], extra: Record<string, string> = {}) =>
    loadConfig(agentConfigSchema, { env: { HTTPAGENT_SCHEDULES: JSON.stringify(schedules), ...extra }, otherKeys: allConfigKeys });

  it('regression: timezone Europe/Berlim passed --self-test and left the agent with no schedules', () => {
    expect(load([{ name: 'nightly', cron: '0 3 * * *', task: 'noop', timezone: 'Europe/Berlin' }]).schedules).toHaveLength(1);
    expect(() => load([{ name: 'nightly', cron: '0 3 * * *', task: 'noop', timezone: 'Europe/Berlim' }])).toThrow(/HTTPAGENT_SCHEDULES\.0\.timezone: expected an IANA time zone/);
  });

  it('refuses a cron pattern that does not parse, in schedules and updateCron', () => {
    expect(() => load([{ name: 'bad', cron: '61 * * * *', task: 'noop' }])).toThrow(/HTTPAGENT_SCHEDULES\.0\.cron: not a cron pattern/);
    expect(() => load([], { HTTPAGENT_UPDATE_CRON: 'every minute' })).toThrow(/HTTPAGENT_UPDATE_CRON: not a cron pattern/);
  });

  it('a Redis URL is printed without its password', () => {
    expect(redactUrl('redis://user:s3cret@host:6379/0')).toBe('redis://user:***@host:6379/0');
    expect(redactUrl('rediss://:s3cret@host:6380')).toBe('rediss://:***@host:6380');
    expect(redactUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });
});
