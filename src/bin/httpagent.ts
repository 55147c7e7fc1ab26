#!/usr/bin/env node
// The single entry point: `httpagent <command>`, the console's commands and the processes on one tree.
import { createCli } from '../cli/program.js';
import { exitStatusFor } from '../shared/error-codes.js';
import { registerProcessCommands } from './process-commands.js';

// `httpagent --help | head`: a reader that went away ends the output, not the process with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
});

const cli = createCli({ stdout: process.stdout, stderr: process.stderr, env: process.env });
registerProcessCommands(cli);

cli.run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const e = err as { code?: string; message?: string };
    process.stderr.write(`httpagent: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}\n`);
    // One policy for every process: a bad setting or bad arguments exit 2, anything else 1.
    process.exitCode = exitStatusFor(err);
  },
);
