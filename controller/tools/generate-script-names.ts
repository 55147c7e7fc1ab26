// Writes controller/src/script-names.ts from the scripts in controller/lua (`npm run build` runs it first).
// With --check it writes nothing and exits 1 when the file is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderScriptNames, scriptNamesFile } from '../src/script-catalog.js';

const want = renderScriptNames();
let have = '';
try {
  have = readFileSync(scriptNamesFile, 'utf8');
} catch {
  // Not generated yet: written below.
}
if (process.argv.includes('--check')) {
  if (have !== want) {
    process.stderr.write(`${scriptNamesFile} is out of date: run npm run build\n`);
    process.exit(1);
  }
} else if (have !== want) {
  writeFileSync(scriptNamesFile, want);
}
