// `fleet completion bash|zsh`: a shell completion script written from the command table, commands and subcommands.
import { defineCommand, selectors, type ListedCommand } from './command.js';

/** Each top-level word, and the words that may follow it (a group's subcommands). */
function words(table: readonly ListedCommand[]): { top: string[]; subs: Map<string, string[]> } {
  const top: string[] = [];
  const subs = new Map<string, string[]>();
  for (const c of table) {
    const [name] = selectors(c);
    if (!name) continue;
    top.push(name);
    const inner = (c.subcommands ?? []).map((s) => selectors(s)[0] ?? '').filter((w) => w);
    if (inner.length > 0) subs.set(name, inner);
  }
  return { top, subs };
}

export function bashScript(table: readonly ListedCommand[]): string {
  const { top, subs } = words(table);
  const cases = [...subs]
    .map(
      ([name, list]) => `      ${name}) COMPREPLY=($(compgen -W "${list.join(' ')}" -- "$cur")) ;;`,
    )
    .join('\n');
  return `# fleet completion for bash: eval "$(fleet completion bash)", or save it in /etc/bash_completion.d/fleet
_fleet() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${top.join(' ')} --help --version" -- "$cur"))
  elif [ "$COMP_CWORD" -eq 2 ]; then
    case "\${COMP_WORDS[1]}" in
${cases}
      *) COMPREPLY=() ;;
    esac
  fi
}
complete -o default -o bashdefault -F _fleet fleet
`;
}

export function zshScript(table: readonly ListedCommand[]): string {
  const { top, subs } = words(table);
  const cases = [...subs]
    .map(([name, list]) => `      ${name}) compadd -- ${list.join(' ')} ;;`)
    .join('\n');
  return `#compdef fleet
# fleet completion for zsh: eval "$(fleet completion zsh)", or save it as _fleet on $fpath
_fleet() {
  if (( CURRENT == 2 )); then
    compadd -- ${top.join(' ')}
  elif (( CURRENT == 3 )); then
    case $words[2] in
${cases}
      *) _files ;;
    esac
  else
    _files
  fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _fleet "$@"; else compdef _fleet fleet; fi
`;
}

export function completionCommand(table: () => Promise<readonly ListedCommand[]>) {
  return defineCommand({
    command: 'completion <shell>',
    describe: 'Print a shell completion script for fleet',
    builder: (y) =>
      y
        .positional('shell', { choices: ['bash', 'zsh'] as const, demandOption: true })
        .example('eval "$($0 completion bash)"', 'complete fleet commands in this shell'),
    handler: async (argv) => {
      const commands = await table();
      const script = argv.shell === 'zsh' ? zshScript(commands) : bashScript(commands);
      process.stdout.write(script);
    },
  });
}
