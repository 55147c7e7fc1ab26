// tasks.yaml and the taskEnv setting: what the loader accepts, and the message for what it refuses.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { agentConfigSchema, allConfigKeys, loadConfig } from '../../src/shared/config/index.js';
import { loadTaskManifest } from '../../src/shared/config/task-manifest.js';

const tmp = mkdtempSync(join(tmpdir(), 'httpagent-manifest-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;

function manifestDir(text: string | undefined): string {
  const dir = join(tmp, String(n++));
  mkdirSync(dir);
  if (text !== undefined) writeFileSync(join(dir, 'tasks.yaml'), text);
  return dir;
}

function refusal(text: string): string {
  try {
    loadTaskManifest(manifestDir(text));
  } catch (err) {
    expect((err as { code?: string }).code).toBe('CONFIG_INVALID');
    return (err as Error).message;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('tasks.yaml', () => {
  it('reads runAs and env per task, defaults runAs to task, and treats a missing file as no manifest', () => {
    const dir = manifestDir('version: 1\ndefaults:\n  env: {SITE: a}\ntasks:\n  init: {runAs: root, env: {SERVICE_ROOTS: /srv}}\n  noop: {}\n');
    expect(loadTaskManifest(dir)).toEqual({
      file: join(dir, 'tasks.yaml'),
      manifest: { version: 1, defaults: { env: { SITE: 'a' } }, tasks: { init: { runAs: 'root', env: { SERVICE_ROOTS: '/srv' } }, noop: { runAs: 'task', env: {} } } },
    });
    expect(loadTaskManifest(manifestDir(undefined))).toMatchObject({ file: undefined, manifest: { tasks: {} } });
  });

  it('refuses unknown keys, a runAs in defaults, and bad runAs values, naming where', () => {
    expect(refusal('version: 1\ntasks:\n  init: {runas: root}\n')).toMatch(/tasks\.yaml: tasks\.init: .*runas/);
    expect(refusal('version: 1\ndefaults: {runAs: root}\n')).toMatch(/defaults: .*runAs/);
    expect(refusal('version: 1\ntasks:\n  init: {runAs: admin}\n')).toMatch(/tasks\.init\.runAs/);
    expect(refusal('tasks: {}\n')).toMatch(/version/);
    expect(refusal('version: 1\nextra: true\n')).toMatch(/extra/);
  });

  it('refuses setting names that are not upper case, start with HTTPAGENT_ or name the account, and values that are not strings', () => {
    expect(refusal('version: 1\ntasks:\n  a: {env: {lower: x}}\n')).toMatch(/tasks\.a\.env/);
    expect(refusal('version: 1\ntasks:\n  a: {env: {HTTPAGENT_AGENT_TOKEN: x}}\n')).toMatch(/HTTPAGENT_\* names are the agent's own/);
    expect(refusal('version: 1\ndefaults: {env: {HOME: /x}}\n')).toMatch(/HOME, USER and LOGNAME/);
    expect(refusal('version: 1\ntasks:\n  a: {env: {KEEP: 5}}\n')).toMatch(/setting values are strings/);
    expect(refusal('version: 1\ntasks:\n  "../sh": {}\n')).toMatch(/tasks\.\.\.\/sh: a task is a script name/);
  });

  it('refuses YAML that is not YAML with the file named', () => {
    expect(refusal('version: [1\n')).toMatch(/tasks\.yaml is not valid YAML/);
  });
});

describe('taskUser and taskEnv settings', () => {
  const load = (env: Record<string, string>) => loadConfig(agentConfigSchema, { env, otherKeys: allConfigKeys });

  it('default to httpagent-task and no settings; HTTPAGENT_TASK_ENV takes JSON', () => {
    expect(load({})).toMatchObject({ taskUser: 'httpagent-task', taskEnv: {} });
    expect(load({ HTTPAGENT_TASK_USER: 'runner', HTTPAGENT_TASK_ENV: '{"LOG_ROOTS":"/srv"}' })).toMatchObject({ taskUser: 'runner', taskEnv: { LOG_ROOTS: '/srv' } });
  });

  it('refuses an HTTPAGENT_ name in taskEnv and a taskUser that is not a user name', () => {
    expect(() => load({ HTTPAGENT_TASK_ENV: '{"HTTPAGENT_X":"1"}' })).toThrow(/HTTPAGENT_TASK_ENV.*HTTPAGENT_\* names/);
    expect(() => load({ HTTPAGENT_TASK_USER: 'root;id' })).toThrow(/HTTPAGENT_TASK_USER: expected a user name/);
  });
});
