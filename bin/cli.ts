// The `fleet` command line: registers every command and turns any failure into one line and an exit code.
import { readFileSync } from 'node:fs';
import yargs from 'yargs';
import { agentCommand } from '../agent/cli.js';
import { errorMessage, isFleetError } from '../shared/errors.js';
import { joinTokenCommand } from '../manager/cli/join-token.js';
import { managerCommand } from '../manager/cli/manager-start.js';
import { nodeCommand } from '../manager/cli/node.js';
import { UsageError } from '../manager/cli/options.js';
import { serviceCommand } from '../manager/cli/service.js';
import { upCommand } from '../manager/cli/up.js';

/** Exit codes: 1 for a failed operation, 2 for a command line that could not be understood. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** What this module needs to know of a command: the words that select it. */
interface Named {
  command?: string | readonly string[] | undefined;
  aliases?: string | readonly string[] | undefined;
}

const TOP_LEVEL: readonly Named[] = [
  upCommand,
  managerCommand,
  agentCommand,
  nodeCommand,
  serviceCommand,
  joinTokenCommand,
];

/** Runs the CLI on `argv` (without node and script); sets process.exitCode instead of exiting. */
export async function main(argv: string[]): Promise<void> {
  const parser = yargs()
    .scriptName('fleet')
    .usage('$0 <command> [options]\n\nRun containers on a fleet of small boards.')
    .command(upCommand)
    .command(managerCommand)
    .command(agentCommand)
    .command(nodeCommand)
    .command(serviceCommand)
    .command(joinTokenCommand)
    .demandCommand(1, 'fleet needs a command')
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version(readVersion())
    .exitProcess(false)
    .fail((msg, err) => {
      throw asUsageError(msg, err);
    });
  parser.wrap(Math.min(100, parser.terminalWidth()));
  try {
    await parser.parseAsync(argv);
  } catch (e) {
    process.exitCode = report(e, argv);
  }
}

/**
 * yargs reports its own validation failures with a message and no error, and a throwing
 * coerce function as a YError; errors from command handlers pass through unchanged.
 */
function asUsageError(msg: string | null | undefined, err: Error | undefined): Error {
  if (err instanceof UsageError) return err;
  if (err && err.name !== 'YError') return err;
  return new UsageError(msg || err?.message || 'invalid command line');
}

function report(e: unknown, argv: readonly string[]): number {
  if (e instanceof UsageError) {
    // yargs' suggestion for a mistyped command does not say which word it did not know.
    const unknown = e.message.startsWith('Did you mean') ? unknownWord(argv) : null;
    const message = unknown === null ? e.message : `Unknown command "${unknown}". ${e.message}`;
    const known = unknown === null ? argv : argv.slice(0, argv.indexOf(unknown));
    process.stderr.write(`${message}\nSee '${helpCommand(known)}'.\n`);
    return EXIT_USAGE;
  }
  process.stderr.write(`Error: ${errorMessage(e)}\n`);
  if (!isFleetError(e) && process.env.DEBUG && e instanceof Error && e.stack) {
    process.stderr.write(`${e.stack}\n`);
  }
  return EXIT_FAILURE;
}

/** "fleet service create --help" for `fleet service create nginx --bad`, as far as it can tell. */
export function helpCommand(argv: readonly string[]): string {
  const [first, second] = argv.slice(0, 2).filter((a, i, all) => all.slice(0, i + 1).every(plain));
  const top = first === undefined ? undefined : TOP_LEVEL.find((c) => selectors(c).includes(first));
  if (!top || !first) return 'fleet --help';
  // Only a command group (a bare word, like `service`) has a subcommand as its next word.
  const isGroup = typeof top.command === 'string' && !top.command.includes(' ');
  return isGroup && second ? `fleet ${first} ${second} --help` : `fleet ${first} --help`;
}

const plain = (arg: string): boolean => !arg.startsWith('-');

/** The first word that is not a top-level command, or the one after a known one. */
function unknownWord(argv: readonly string[]): string {
  const [first = '', second = ''] = argv.filter((a) => !a.startsWith('-'));
  return isTopLevel(first) ? second : first;
}

const isTopLevel = (word: string): boolean => TOP_LEVEL.some((c) => selectors(c).includes(word));

const selectors = (c: Named): string[] => {
  const list = (v: string | readonly string[] | undefined): readonly string[] =>
    v === undefined ? [] : typeof v === 'string' ? [v] : v;
  return [...list(c.command), ...list(c.aliases)].map((s) => s.split(' ')[0] ?? '');
};

function readVersion(): string {
  try {
    // Compiled to dist/bin/cli.js, two levels below the package root.
    const pkg: unknown = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    );
    if (typeof pkg === 'object' && pkg && 'version' in pkg && typeof pkg.version === 'string') {
      return pkg.version;
    }
  } catch {
    // fall through: a missing version must not stop the CLI
  }
  return 'unknown';
}
