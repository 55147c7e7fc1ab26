// Writes test/setup/file-seconds.json (what test/setup/sequencer.ts orders files by) from a run's JSON
// report: `node --import tsx test/setup/record-durations.ts .ci/out/results.json` after `.ci/run`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const report = process.argv[2];
if (!report) {
  process.stderr.write('usage: record-durations.ts <vitest JSON report>\n');
  process.exit(2);
}
const r = JSON.parse(readFileSync(report, 'utf8')) as { testResults: Array<{ name: string; startTime: number; endTime: number }> };
const rows = r.testResults
  // The report may come from another checkout (a CI clone): named from its test/ folder on.
  .map((t) => [t.name.slice(t.name.lastIndexOf('/test/') + 1), Math.round((t.endTime - t.startTime) / 100) / 10] as const)
  .sort((a, b) => b[1] - a[1]);
writeFileSync(join(root, 'test/setup/file-seconds.json'), `${JSON.stringify(Object.fromEntries(rows), null, 1)}\n`);
process.stdout.write(`${rows.length} files, ${rows.reduce((n, [, s]) => n + s, 0).toFixed(0)} s in all\n`);
