// `fleet --help` from the command table alone, laid out as the option parser prints it, so it needs no parser.
import type { ListedCommand } from './command.js';

/** `usage` with $0 for the program; each command's words and description, in table order. */
export function topLevelHelp(
  usage: string,
  commands: readonly (ListedCommand & { command: string; describe: string })[],
): string {
  const names = commands.map((c) => `fleet ${c.command}`);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const lines = [
    usage.replace(/\$0/g, 'fleet'),
    '',
    'Commands:',
    ...commands.map((c, i) => `  ${(names[i] ?? '').padEnd(width)}${c.describe}`),
    '',
    'Options:',
    '  -h, --help     Show help  [boolean]',
    '      --version  Show version number  [boolean]',
  ];
  return lines.join('\n') + '\n';
}
