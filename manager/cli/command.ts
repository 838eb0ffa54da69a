// How a command is declared: one module per command, and lists of them (a group such as `fleet service`, the top level).
import type { Argv, CommandModule } from 'yargs';

/** Identity at runtime; lets the handler's argv type follow from what the builder declares. */
export const defineCommand = <U>(m: CommandModule<object, U>): CommandModule<object, U> => m;

/** A command as a list holds it, whatever its flags: the words that select it, and how to add it. */
export interface ListedCommand {
  readonly command: CommandModule['command'];
  readonly aliases: CommandModule['aliases'];
  readonly describe?: CommandModule['describe'];
  /** A group's subcommands (see commandGroup), for completion. */
  readonly subcommands?: readonly ListedCommand[];
  register(parser: Argv<object>): void;
}

export function listed<U>(
  m: CommandModule<object, U> & { subcommands?: readonly ListedCommand[] },
): ListedCommand {
  return {
    command: m.command,
    aliases: m.aliases,
    describe: m.describe,
    ...(m.subcommands ? { subcommands: m.subcommands } : {}),
    register: (parser) => void parser.command(m),
  };
}

/** The words that select a command: "create" of "create <image> [command..]", then its aliases. */
export function selectors(c: ListedCommand): string[] {
  const list = (v: string | readonly string[] | undefined): readonly string[] =>
    v === undefined ? [] : typeof v === 'string' ? [v] : v;
  return [...list(c.command), ...list(c.aliases)].map((s) => s.split(' ')[0] ?? '');
}

/**
 * A command such as `fleet service` that only selects one of `subcommands`; run bare, it says
 * which subcommands there are, in the order they are listed. `path` is how a nested group is
 * typed (`agent release`).
 */
export function commandGroup(
  name: string,
  describe: string,
  subcommands: readonly ListedCommand[],
  path = name,
): CommandModule<object, object> & { subcommands: readonly ListedCommand[] } {
  const words = subcommands.map((c) => selectors(c)[0] ?? '');
  const last = words.pop();
  const list = words.length > 0 ? `${words.join(', ')} or ${last}` : (last ?? '');
  return {
    command: name,
    describe,
    subcommands,
    builder: (y) => {
      for (const sub of subcommands) sub.register(y);
      return y.demandCommand(1, `fleet ${path} needs a subcommand: ${list}`);
    },
    handler: () => undefined,
  };
}
