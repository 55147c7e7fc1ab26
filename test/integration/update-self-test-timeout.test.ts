// Regression: at 50 agents on 2 cores a release's self-test (`agent --self-test`, a real node process)
// ran past its time limit, was killed, and the release was recorded as failed for good on that host,
// which then never moved to it. A self-test killed at its limit is the host's load, not a verdict: the
// error says so (timedOut) and self-update tries the release again at its next tick, from the tree it
// already verified and unpacked (a retry used to download and unpack the bundle again, adding load).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packBundle } from '../../src/ops/bundle-pack.js';
import { ReleaseBuildError, selfCheck } from '../../src/ops/release-build.js';
import { RELEASE_OK, releaseLayout } from '../../src/ops/release-layout.js';
import { dropVerifiedReleases, selfTestAndName, unpackRelease, verifiedRelease } from '../../src/ops/release-unpack.js';
import { syntheticRelease } from '../helpers/bundles.js';

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

  it('a bundle whose self-test ran out of time is self-tested again from its verified tree, not unpacked again', async () => {
    const d = mkdtempSync(join(tmpdir(), 'httpagent-selftest-'));
    dirs.push(d);
    const commit = 'feed'.repeat(10);
    const tree = syntheticRelease(join(d, 'tree'), commit);
    // Slow while HANG is set: a host too busy to finish the self-test in time.
    writeFileSync(join(tree, 'dist', 'src', 'bin', 'httpagent.js'), "if (process.env.HANG) setInterval(() => undefined, 1000);\n");
    const { file } = await packBundle({ releaseDir: tree, outDir: join(d, 'out') });
    const layout = releaseLayout(join(d, 'prefix'));
    const env = { PATH: process.env.PATH ?? '' };

    // install.sh does not ask to keep it: its rollback leaves nothing behind.
    const plain = await failure(unpackRelease({ layout, file, env: { ...env, HANG: '1' }, selfTestTimeoutMs: 300 }).then(() => undefined));
    expect(plain.timedOut).toBe(true);
    expect(verifiedRelease(layout, commit)).toBeUndefined();

    const err = await failure(unpackRelease({ layout, file, env: { ...env, HANG: '1' }, selfTestTimeoutMs: 300, keepVerifiedOnTimeout: true }).then(() => undefined));
    expect(err.timedOut).toBe(true);
    const kept = verifiedRelease(layout, commit);
    expect(kept).toBeDefined();
    expect(existsSync(join(kept!, RELEASE_OK))).toBe(false);

    const steps: string[] = [];
    const dir = await selfTestAndName({ layout, env, onStep: (s) => steps.push(s) }, kept!, commit);
    expect(steps).toEqual(['self-test']); // no 'verify and unpack'
    expect(dir).toBe(join(layout.releasesDir, commit.slice(0, 12)));
    expect(existsSync(join(dir, RELEASE_OK))).toBe(true);
    expect(verifiedRelease(layout, commit)).toBeUndefined();

    // A tree left for a commit the channel no longer offers is dropped.
    rmSync(dir, { recursive: true, force: true });
    await failure(unpackRelease({ layout, file, env: { ...env, HANG: '1' }, selfTestTimeoutMs: 300, keepVerifiedOnTimeout: true }).then(() => undefined));
    expect(verifiedRelease(layout, commit)).toBeDefined();
    dropVerifiedReleases(layout, 'other'.padEnd(40, '0'));
    expect(verifiedRelease(layout, commit)).toBeUndefined();
  });
});
