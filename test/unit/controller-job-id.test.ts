import { describe, expect, it } from 'vitest';
import { newJobId } from '../../controller/src/job-store.js';

describe('job ids', () => {
  it('never start with "-" (regression: `httpagent job status -xyz…` was parsed as an option)', () => {
    const ids = Array.from({ length: 20_000 }, newJobId);
    // One assertion over the misfits, not 20,000 expect() calls (seconds on a loaded machine).
    expect(ids.filter((id) => !/^[A-Za-z0-9]{16}$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
