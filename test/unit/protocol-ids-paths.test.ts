// One id schema each and one table of paths: the controller registers the patterns the clients fill in.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newJobId } from '../../controller/src/job-store.js';
import { AGENT_API_PREFIX, agentApiPaths } from '../../src/shared/protocol/agent-api.js';
import { agentIdFromHostname, agentIdSchema, jobIdSchema } from '../../src/shared/protocol/ids.js';
import { platformApiPaths } from '../../src/shared/protocol/platform-api.js';
import { repoRoot } from '../helpers/processes.js';

describe('ids', () => {
  it('every job id the controller issues is a valid job id', () => {
    for (let i = 0; i < 200; i++) expect(jobIdSchema.safeParse(newJobId()).success).toBe(true);
  });

  it('refuses job ids that could be read as a path or an option value with spaces', () => {
    for (const bad of ['', '..', 'a/b', 'a b', 'a.b', 'x'.repeat(65)]) expect(jobIdSchema.safeParse(bad).success, bad).toBe(false);
  });

  it('derives a valid agent id from any host name, and takes 1-128 characters', () => {
    expect(agentIdFromHostname('web 01/eu:west')).toBe('web-01-eu-west');
    expect(agentIdSchema.safeParse(agentIdFromHostname('host.example_1')).success).toBe(true);
    expect(agentIdSchema.safeParse('a'.repeat(128)).success).toBe(true);
    expect(agentIdSchema.safeParse('a'.repeat(129)).success).toBe(false);
  });

  it('spells the agent-id pattern in one place only', () => {
    const spelled: string[] = [];
    for (const dir of ['src', 'controller/src']) {
      for (const e of readdirSync(join(repoRoot, dir), { recursive: true, withFileTypes: true })) {
        if (!e.isFile() || !e.name.endsWith('.ts')) continue;
        const file = join(e.parentPath, e.name);
        if (readFileSync(file, 'utf8').includes('A-Za-z0-9_.-]{1,128}')) spelled.push(file.slice(repoRoot.length));
      }
    }
    expect(spelled).toEqual(['src/shared/protocol/ids.ts']);
  });
});

describe('paths', () => {
  it('every agent API path is under the prefix the controller asks the agent token for', () => {
    for (const [name, p] of Object.entries(agentApiPaths)) {
      const path = typeof p === 'string' ? p : p.route;
      expect(path.startsWith(AGENT_API_PREFIX), name).toBe(true);
    }
  });

  it('a path with an id builds the URL its route pattern matches, the id encoded', () => {
    expect(agentApiPaths.complete.route).toBe('/v1/agent/jobs/:id/complete');
    expect(agentApiPaths.complete('J1')).toBe('/v1/agent/jobs/J1/complete');
    expect(platformApiPaths.job('a/b c')).toBe('/v1/jobs/a%2Fb%20c');
    expect(platformApiPaths.jobLog.route).toBe('/v1/jobs/:id/log');
    expect(platformApiPaths.agentMetrics('h-1')).toBe('/v1/agents/h-1/metrics');
  });
});
