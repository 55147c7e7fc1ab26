// Pure parts of the dashboard's server side: the stream cap shared with the Lua include, stream id order,
// and the three figures a sample is summed up in (the list cursor is tested with job-filter.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareIds, EVENTS_MAXLEN } from '../../controller/src/event-stream.js';
import { luaDir } from '../../controller/src/commands.js';
import { sampleSummary } from '../../controller/src/monitor-store.js';

describe('the event stream', () => {
  it('is capped at the same length by the scripts and by the stores', () => {
    const lua = readFileSync(join(luaDir, 'includes/job-events.lua'), 'utf8');
    expect(Number(/local EVENTS_MAXLEN = (\d+)/.exec(lua)?.[1])).toBe(EVENTS_MAXLEN);
  });

  it('orders ids by time then sequence, not as text', () => {
    expect(compareIds('10-0', '9-5')).toBeGreaterThan(0);
    expect(compareIds('9-10', '9-9')).toBeGreaterThan(0);
    expect(compareIds('9-1', '9-1')).toBe(0);
  });
});

describe('sampleSummary', () => {
  it('takes CPU busy, memory used and the fullest filesystem, and null for what a sample lacks', () => {
    expect(sampleSummary({ ts: 1, cpu: { busyPercent: 12.5 }, memory: { usedPercent: 40 }, filesystems: { '/': { usedPercent: 70 }, '/var': { usedPercent: 91 } } })).toEqual({ cpu: 12.5, memory: 40, disk: 91 });
    expect(sampleSummary({ ts: 1, cpu: null })).toEqual({ cpu: null, memory: null, disk: null });
  });
});
