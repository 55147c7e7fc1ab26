// Longest file first. The suite is CPU-bound on two workers and a few files take minutes (install.sh runs,
// self-updates, chaos): started last, as vitest's default order does on a fresh clone (no results cache:
// larger files first), one of them ran alone at the end for minutes while the other worker sat idle.
// The seconds come from a run's JSON report (test/setup/record-durations.ts); a file missing from them
// (new, renamed) keeps its place after the known ones, so a stale list only costs time.
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import seconds from './file-seconds.json' with { type: 'json' };

const known = seconds as Record<string, number>;

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const weight = (f: TestSpecification) => known[relative(f.project.config.root, f.moduleId)] ?? 0;
    // Array.prototype.sort is stable: equal weights keep vitest's order.
    return [...base].sort((a, b) => weight(b) - weight(a));
  }
}
