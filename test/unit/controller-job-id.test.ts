import { describe, expect, it } from 'vitest';
import { newJobId } from '../../controller/src/job-store.js';

describe('job ids', () => {
  it('never start with "-" (regression: `httpagent job status -xyz…` was parsed as an option)', () => {
    const ids = Array.from({ length: 20_000 }, newJobId);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9]{16}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
