// Shared option parsing for the process commands: --config FILE and --help.
import { parseArgs } from 'node:util';

export interface ProcessArgs {
  config?: string | undefined;
  help: boolean;
  /** `agent --self-test`: load the config, run src/ops/self-test.ts, exit 0/1 (self-update runs it). */
  selfTest: boolean;
  /** Debug logging, with the stack of every error (the controller's Redis connection errors). */
  verbose: boolean;
}

export function parseProcessArgs(argv: string[], env: NodeJS.ProcessEnv): ProcessArgs {
  const { values } = parseArgs({
    args: argv,
    options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' }, 'self-test': { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } },
    strict: true,
    allowPositionals: false,
  });
  return { config: values.config ?? env.HTTPAGENT_CONFIG, help: values.help ?? false, selfTest: values['self-test'] ?? false, verbose: values.verbose ?? false };
}
