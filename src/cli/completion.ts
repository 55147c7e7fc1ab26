// `httpagent completion bash|zsh`: a completion script generated from the command tree itself, so a new
// command or option completes without anyone editing the script.
import { Argument, type Command, type Option } from 'commander';
import type { CliRuntime } from './cli-context.js';

/** What completes where: keyed by command path (`httpagent job submit`), or path + option for its values. */
export interface CompletionTable {
  subs: Record<string, string[]>;
  opts: Record<string, string[]>;
  /** Options that take a value (file names are offered for them unless `values` knows better). */
  takes: Record<string, string[]>;
  /** Fixed values: of an option (`<path> <flag>`) or of a command's argument (`<path>`). */
  values: Record<string, string[]>;
}

function flags(o: Option): string[] {
  return [o.short, o.long].filter((f): f is string => Boolean(f));
}

export function completionTable(root: Command): CompletionTable {
  const t: CompletionTable = { subs: {}, opts: {}, takes: {}, values: {} };
  const walk = (cmd: Command, path: string) => {
    // What help shows is what completes: the help option and the help command included.
    const help = cmd.createHelp();
    t.subs[path] = help.visibleCommands(cmd).map((c) => c.name());
    const options = help.visibleOptions(cmd);
    t.opts[path] = options.flatMap(flags);
    t.takes[path] = options.filter((o) => o.required || o.optional).flatMap(flags);
    for (const o of options) if (o.argChoices) for (const f of flags(o)) t.values[`${path} ${f}`] = o.argChoices;
    const choices = cmd.registeredArguments.flatMap((a) => a.argChoices ?? []);
    if (choices.length) t.values[path] = choices;
    for (const c of cmd.commands) walk(c, `${path} ${c.name()}`);
  };
  walk(root, root.name());
  return t;
}

const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;

function assoc(name: string, m: Record<string, string[]>): string {
  return `${name}=(\n${Object.entries(m)
    .map(([k, v]) => `  [${q(k)}]=${q(v.join(' '))}`)
    .join('\n')}\n)`;
}

export function bashCompletion(t: CompletionTable): string {
  return `# httpagent completion for bash (4+). Load it with: source <(httpagent completion bash)
declare -gA _httpagent_subs _httpagent_opts _httpagent_takes _httpagent_values
${assoc('_httpagent_subs', t.subs)}
${assoc('_httpagent_opts', t.opts)}
${assoc('_httpagent_takes', t.takes)}
${assoc('_httpagent_values', t.values)}
_httpagent() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd=httpagent w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    if [[ " \${_httpagent_subs[$cmd]} " == *" $w "* ]]; then cmd="$cmd $w"; fi
  done
  if [[ -n \${_httpagent_values["$cmd $prev"]+x} ]]; then
    COMPREPLY=($(compgen -W "\${_httpagent_values["$cmd $prev"]}" -- "$cur")); return
  fi
  if [[ " \${_httpagent_takes[$cmd]} " == *" $prev "* ]]; then COMPREPLY=($(compgen -f -- "$cur")); return; fi
  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W "\${_httpagent_opts[$cmd]}" -- "$cur")); return; fi
  COMPREPLY=($(compgen -W "\${_httpagent_subs[$cmd]} \${_httpagent_values[$cmd]}" -- "$cur"))
}
complete -F _httpagent httpagent
`;
}

/** The same for zsh. The command path is `cmd` in both scripts: in zsh `path` is the PATH array. */
export function zshCompletion(t: CompletionTable): string {
  const zassoc = (name: string, m: Record<string, string[]>) =>
    `${name}=(\n${Object.entries(m)
      .map(([k, v]) => `  ${q(k)} ${q(v.join(' '))}`)
      .join('\n')}\n)`;
  return `#compdef httpagent
# httpagent completion for zsh. Load it with: source <(httpagent completion zsh)   (after compinit)
typeset -gA _httpagent_subs _httpagent_opts _httpagent_takes _httpagent_values
${zassoc('_httpagent_subs', t.subs)}
${zassoc('_httpagent_opts', t.opts)}
${zassoc('_httpagent_takes', t.takes)}
${zassoc('_httpagent_values', t.values)}
_httpagent() {
  local cur=\${words[CURRENT]} prev=\${words[CURRENT-1]} cmd=httpagent w i
  for (( i = 2; i < CURRENT; i++ )); do
    w=\${words[i]}
    if [[ " \${_httpagent_subs[$cmd]} " == *" $w "* ]]; then cmd="$cmd $w"; fi
  done
  if (( \${+_httpagent_values[$cmd $prev]} )); then compadd -- \${=_httpagent_values[$cmd $prev]}; return; fi
  if [[ " \${_httpagent_takes[$cmd]} " == *" $prev "* ]]; then _files; return; fi
  if [[ $cur == -* ]]; then compadd -- \${=_httpagent_opts[$cmd]}; return; fi
  compadd -- \${=_httpagent_subs[$cmd]} \${=_httpagent_values[$cmd]}
}
compdef _httpagent httpagent
`;
}

export function registerCompletionCommand(program: Command, rt: CliRuntime): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .addHelpText(
      'after',
      `
Examples:
  source <(httpagent completion bash)                       # this shell
  httpagent completion bash > /etc/bash_completion.d/httpagent
  echo 'source <(httpagent completion zsh)' >> ~/.zshrc        # after compinit`,
    )
    .action((shell: string, _opts: unknown, cmd: Command) => {
      let root = cmd;
      while (root.parent) root = root.parent;
      const table = completionTable(root);
      rt.term.out.write(shell === 'zsh' ? zshCompletion(table) : bashCompletion(table));
    });
}
