// The console's help and mistakes, as the real binary answers them: --help at every level with
// examples, typo suggestions, one-line usage errors with exit 2, and shell completion generated from
// the command tree. Regression: `job submit --help` answered "Unknown option '--help'" with exit 2, and
// the top-level help left out --timeout, --idempotency-key, --max-attempts, --json and --self-test.
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { completionTable } from '../../src/cli/completion.js';
import { createCli } from '../../src/cli/program.js';
import { registerProcessCommands } from '../../src/bin/process-commands.js';
import { spawnHttpagent } from '../helpers/processes.js';

async function run(args: string[]) {
  const p = spawnHttpagent(args, {});
  return { code: await p.exited(), out: p.output() };
}

/** The same tree in this process, for walking every command. */
function inProcess() {
  let out = '';
  let err = '';
  const cli = createCli({ stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} });
  registerProcessCommands(cli);
  return { cli, out: () => out, err: () => err };
}

describe('help', () => {
  it('every command and subcommand answers --help with exit 0 and examples', async () => {
    const { cli } = inProcess();
    const paths = Object.keys(completionTable(cli.program).subs).map((p) => p.split(' ').slice(1)).filter((p) => p.at(-1) !== 'help');
    expect(paths.length).toBeGreaterThan(15);
    for (const path of paths) {
      const c = inProcess();
      expect(await c.cli.run([...path, '--help']), path.join(' ')).toBe(0);
      expect(c.out(), path.join(' ')).toMatch(/^Usage: httpagent/);
      // Every command a person runs by hand shows how; `agents list` is an alias of `agents`.
      if (path.join(' ') !== 'agents list') expect(c.out(), `${path.join(' ')} has examples`).toMatch(/Examples?( \([^)]*\))?:\n {2}\S/);
      expect(c.err(), path.join(' ')).toBe('');
    }
  });

  it('the real binary: top level, a noun, a verb, a process, and `help job submit`', async () => {
    const [top, job, submit, agent, helpCmd, bare] = await Promise.all([
      run(['--help']),
      run(['job', '--help']),
      run(['job', 'submit', '--help']),
      run(['agent', '--help']),
      run(['help', 'job']),
      run(['job']),
    ]);
    for (const r of [top, job, submit, agent, helpCmd]) expect(r.code).toBe(0);
    expect(top.out).toMatch(/job\s+queue, list, follow/);
    expect(top.out).toMatch(/completion <shell>/);
    for (const opt of ['--timeout', '--idempotency-key', '--max-attempts', '--json', '--step', '--file', '--wait', '--quiet']) expect(submit.out).toContain(opt);
    expect(submit.out).toMatch(/Exit status: 0 the job succeeded, 1 it failed, 3 it was cancelled/);
    expect(agent.out).toContain('--self-test');
    for (const verb of ['submit', 'list', 'status', 'wait', 'logs', 'cancel', 'retry']) expect(job.out).toMatch(new RegExp(`\\n  ${verb}\\b`));
    expect(helpCmd.out).toBe(job.out);
    // A noun without a verb shows its help, as a usage error.
    expect(bare.code).toBe(2);
    expect(bare.out).toMatch(/^Usage: httpagent job/);
  }, 180_000);
});

describe('mistakes', () => {
  const cases: [string[], RegExp][] = [
    [['job', 'submit', 'noop', '--lable', 'x=y'], /^httpagent job submit: unknown option '--lable' \(did you mean --label\?\); see 'httpagent job submit --help'\n$/],
    [['jbo', 'list'], /^httpagent: unknown command 'jbo' \(did you mean job\?\)/],
    [['job', 'sbumit'], /^httpagent job: unknown command 'sbumit' \(did you mean submit\?\)/],
    [['job', 'submit', 'noop', '--priority', 'high'], /^httpagent job submit: option '--priority <n>' argument 'high' is invalid\. expected a whole number/],
    [['job', 'list', '--since', '1764000000'], /looks like seconds since the epoch/],
    [['job', 'status'], /^httpagent job status: missing required argument 'id'/],
    [['completion', 'fish'], /^httpagent completion: .*Allowed choices are bash, zsh/],
    [['controller', '--self-test'], /^httpagent controller: unknown option '--self-test'/],
    [['job', 'submit', '--step', 'noop', 'extra-task'], /^httpagent job submit: give one of TASK, --step or --file\n$/],
  ];

  it('one line naming the command, a suggestion for a typo, exit 2 (every case, in process)', async () => {
    for (const [args, expected] of cases) {
      const c = inProcess();
      expect(await c.cli.run(args), args.join(' ')).toBe(2);
      expect(c.err(), args.join(' ')).toMatch(expected);
      expect(c.err().trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(c.out(), args.join(' ')).toBe('');
    }
  });

  it('the real binary exits 2 with that one line', async () => {
    const [typo, missing] = await Promise.all([run(cases[0]![0]), run(cases[5]![0])]);
    for (const [r, i] of [[typo, 0], [missing, 5]] as const) {
      expect(r.code).toBe(2);
      expect(r.out).toMatch(cases[i]![1]);
    }
  }, 180_000);
});

describe('completion', () => {
  /** What bash offers after `words` (the last one being completed). */
  async function complete(script: string, words: string[]): Promise<string[]> {
    const bash = spawn('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _httpagent; printf '%s\\n' "\${COMPREPLY[@]}"`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    bash.stdout.on('data', (d: Buffer) => (out += d.toString()));
    bash.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((r) => bash.once('exit', r));
    expect(err).toBe('');
    expect(code).toBe(0);
    return out.split('\n').filter(Boolean).sort();
  }

  it('bash: commands, verbs, options and option values, from the tree', async () => {
    const gen = await run(['completion', 'bash']);
    expect(gen.code).toBe(0);
    expect(gen.out).toContain('complete -F _httpagent httpagent');
    expect(await complete(gen.out, ['httpagent', 'jo'])).toEqual(['job']);
    expect(await complete(gen.out, ['httpagent', 'job', 's'])).toEqual(['status', 'submit']);
    expect(await complete(gen.out, ['httpagent', 'job', 'submit', '--la'])).toEqual(['--label']);
    expect(await complete(gen.out, ['httpagent', 'job', 'submit', '--wait', '--idem'])).toEqual(['--idempotency-key']);
    expect(await complete(gen.out, ['httpagent', 'completion', ''])).toEqual(['bash', 'zsh']);
    expect(await complete(gen.out, ['httpagent', 'agent', '--s'])).toEqual(['--self-test']);
  }, 120_000);

  it('zsh: a compdef script over the same table', async () => {
    const gen = await run(['completion', 'zsh']);
    expect(gen.code).toBe(0);
    expect(gen.out).toMatch(/^#compdef httpagent\n/);
    expect(gen.out).toContain("'httpagent job' 'submit list status wait logs cancel retry help'");
    expect(gen.out).toContain('compdef _httpagent httpagent');
  }, 120_000);
});
