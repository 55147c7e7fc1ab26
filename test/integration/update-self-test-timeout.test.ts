// Regression: at 50 agents on 2 cores a release's self-test (`agent --self-test`, a real node process)
// ran past its time limit, was killed, and the release was recorded as failed for good on that host,
// which then never moved to it. A self-test killed at its limit is the host's load, not a verdict: the
// error says so (timedOut) and self-update tries the release again at its next tick.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReleaseBuildError, selfCheck } from '../../src/ops/release-build.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A release whose entry point runs `body` (plain JS) for `agent --self-test`. */
function releaseWith(body: string): string {
  const d = mkdtempSync(join(tmpdir(), 'httpagent-selftest-'));
  dirs.push(d);
  const bin = join(d, 'dist', 'src', 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'httpagent.js'), body);
  return d;
}

async function failure(p: Promise<void>): Promise<ReleaseBuildError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ReleaseBuildError);
  return err as ReleaseBuildError;
}

describe('self-test of a new release', () => {
  it('a self-test killed at its time limit is marked timedOut, not a failed release', async () => {
    // Never exits: stands in for a release still loading on an overloaded host.
    const release = releaseWith('setInterval(() => undefined, 1000);\n');
    const err = await failure(selfCheck(release, { PATH: process.env.PATH ?? '' }, undefined, undefined, 300));
    expect(err.code).toBe('UPDATE_SELF_TEST_FAILED');
    expect(err.timedOut).toBe(true);
  });

  it('a self-test that exits non-zero is a failed release (not timedOut)', async () => {
    const release = releaseWith("process.stderr.write('bad config\\n'); process.exit(1);\n");
    const err = await failure(selfCheck(release, { PATH: process.env.PATH ?? '' }, undefined, undefined, 30_000));
    expect(err.code).toBe('UPDATE_SELF_TEST_FAILED');
    expect(err.timedOut).toBe(false);
    expect(err.detail).toContain('bad config');
  });
});
