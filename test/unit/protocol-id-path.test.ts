// A path with one id: built by the client, registered by the server, and read back by the agent channel
// (which carries paths, not routes) from the same string.
import { describe, expect, it } from 'vitest';
import { agentApiPaths, channelCall } from '../../src/shared/protocol/agent-api.js';

describe('id paths', () => {
  it('reads back the id of a path it built, still encoded, and nothing from another path', () => {
    const complete = agentApiPaths.complete;
    expect(complete.match(complete('job 1/x'))).toBe('job%201%2Fx');
    expect(complete.match('/v1/agent/jobs/abc/complete')).toBe('abc');
    expect(complete.match('/v1/agent/jobs//complete')).toBeUndefined();
    expect(complete.match('/v1/agent/jobs/a/b/complete')).toBeUndefined();
    expect(complete.match('/v1/agent/jobs/abc/renew')).toBeUndefined();
    expect(complete.match('/v1/agent/jobs/abc/complete/')).toBeUndefined();
  });

  it('names the calls the agent channel carries', () => {
    expect(channelCall('/v1/agent/claim')).toEqual({ kind: 'claim' });
    expect(channelCall('/v1/agent/complete')).toEqual({ kind: 'completeBatch' });
    expect(channelCall(agentApiPaths.complete('j1'))).toEqual({ kind: 'complete', id: 'j1' });
    expect(channelCall('/v1/agent/heartbeat')).toBeUndefined();
  });
});
