// Writes docs/errors.md from the error registry (src/shared/error-codes.ts): `npm run docs:errors`.
// test/unit/error-registry.test.ts fails when the file and the registry differ.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errorCodes, EXIT, EXIT_MEANINGS, type ErrorCodeSpec } from '../src/shared/error-codes.js';

export const ERRORS_DOC = fileURLToPath(new URL('./errors.md', import.meta.url));

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function renderErrorsDoc(): string {
  const lines = [
    '<!-- GENERATED from src/shared/error-codes.ts by docs/generate-errors.ts (npm run docs:errors). Do not edit. -->',
    '# Error codes',
    '',
    'Every error reply of the agent port and the controller is `{"error":{"code","message",...details}}`',
    'with the HTTP status below; match on `code`, never on the message. A 400 `BAD_REQUEST` carries',
    '`issues: [{path, code, message}]`: `path` is the field inside the part checked (body, query or path',
    "parameters), `code` is zod's issue code (`unrecognized_keys`, `invalid_type`, `too_big`...) or `custom`,",
    'and the message names the first field, e.g.',
    '`{"error":{"code":"BAD_REQUEST","message":"invalid body: unknown field \\"prioirty\\"","issues":[{"path":"prioirty","code":"unrecognized_keys","message":"unknown field \\"prioirty\\""}]}}`.',
    '429 `OVERLOADED`, `MONITOR_QUOTA` and `SUBMIT_QUOTA`, 503 `REDIS_UNAVAILABLE` and `REDIS_OOM` come with `Retry-After` (seconds).',
    '',
    'A client (agent, monitor, console) keeps the code a server sent; a reply without an error body (a',
    "proxy's page) becomes `HTTP_<status>`.",
    '',
    '## Exit statuses',
    '',
    'One policy for every process (agent, monitor, controller, update-guard, supervisor-listener) and the console:',
    '',
    '| exit | meaning |',
    '| --- | --- |',
    ...Object.entries(EXIT).map(([k, v]) => `| ${v} | ${cell(EXIT_MEANINGS[k as keyof typeof EXIT])} |`),
    '',
    '## Codes',
    '',
    '`retry`: repeating the same call later may succeed without anything else changing.',
    '',
    '| code | HTTP | exit | retry | raised by | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
    ...Object.entries(errorCodes as Record<string, ErrorCodeSpec>).map(
      ([code, s]) => `| \`${code}\` | ${s.http ?? '—'} | ${s.exit ?? '—'} | ${s.retryable ? 'yes' : 'no'} | ${s.source} | ${cell(s.meaning)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(ERRORS_DOC, renderErrorsDoc());
  process.stdout.write(`wrote ${ERRORS_DOC}\n`);
}
