// Option types shared by the console commands: typed parsers (commander turns their refusals into a
// usage error naming the option), and the options every command that talks to the controller takes.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { parseTimeParam } from '../shared/protocol/time-param.js';

/** A whole number in [min, max]. */
export function intArg(min: number, max: number): (v: string) => number {
  return (v) => {
    if (!/^-?\d+$/.test(v.trim())) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new InvalidArgumentError(`expected ${min} to ${max}, got ${n}`);
    return n;
  };
}

/** A comma-separated list of some of `allowed`, kept as given. */
export function listArg(allowed: readonly string[]): (v: string) => string {
  return (v) => {
    for (const item of v.split(',')) if (!allowed.includes(item)) throw new InvalidArgumentError(`"${item}" is not one of ${allowed.join(', ')}`);
    return v;
  };
}

/** For repeatable options: each use adds one value. */
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

const RELATIVE = /^(\d+)(s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: an ISO 8601 time, epoch milliseconds, or an age (`90s`, `30m`, `2h`, `7d`), as epoch ms. */
export function timeArg(now: () => number = Date.now): (v: string) => number {
  return (v) => {
    const rel = RELATIVE.exec(v.trim());
    if (rel) return now() - Number(rel[1]) * UNIT_MS[rel[2]!]!;
    const r = parseTimeParam(v);
    if ('error' in r) throw new InvalidArgumentError(`${r.error}, or an age such as 2h`);
    return r.ms;
  };
}

/** What every console command talking to the controller accepts. */
export interface ConsoleOptions {
  config?: string;
  controller?: string;
  json?: boolean;
  quiet?: boolean;
}

export function addConsoleOptions(cmd: Command): Command {
  return cmd
    .option('--json', 'print the result as JSON on stdout')
    .option('-q, --quiet', 'print only the result: no progress, no notes')
    .addOption(new Option('--controller <url>', 'the controller (default: HTTPAGENT_CONTROLLER_URL, else http://127.0.0.1:9890)'))
    .option('-c, --config <file>', 'read controllerUrl and platformToken from this YAML/JSON file (default: HTTPAGENT_CONFIG)');
}
