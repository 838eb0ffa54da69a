// The `fleet` command line: registers every command and turns any failure into one line and an exit code.
import { FLEET_VERSION } from '../shared/version.js';
import type { Argv } from 'yargs';
import type { WorkerLauncher } from '../shared/worker.js';
import { errorMessage, isFleetError } from '../shared/errors.js';
import { commandGroup, listed, selectors, type ListedCommand } from '../manager/cli/command.js';
import { topLevelHelp } from '../manager/cli/top-help.js';
import { UsageError } from '../manager/cli/usage.js';

/** Exit codes: 1 for a failed operation, 2 for a command line that could not be understood. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The agent beside a manager, loaded only when a manager starts one. */
const workerLauncher: WorkerLauncher = {
  probe: async (runtime, dataDir) =>
    (await import('../agent/worker.js')).workerLauncher.probe(runtime, dataDir),
  start: async (launch) => (await import('../agent/worker.js')).workerLauncher.start(launch),
};

/**
 * Every top-level command, in the order help lists them: its words and description here, its
 * module loaded only when it runs (as balena-cli does), so `fleet --help` reads no command's
 * code and `fleet node ls` none but node's. A test checks each entry against its module.
 */
export interface TopLevelEntry extends ListedCommand {
  readonly command: string;
  readonly describe: string;
  load(): Promise<ListedCommand>;
}

const entry = (
  command: string,
  describe: string,
  load: () => Promise<ListedCommand>,
): TopLevelEntry => ({
  command,
  aliases: [],
  describe,
  load,
  // Registered without flags: enough for help, suggestions and the --help hint.
  register: (parser) =>
    void parser.command({ command, describe, builder: (y) => y, handler: () => undefined }),
});

export const TOP_LEVEL: readonly TopLevelEntry[] = [
  entry('up', 'start a local cluster: one manager and N agents on loopback addresses', async () =>
    listed((await import('../manager/cli/up.js')).upCommand),
  ),
  entry('manager', 'Run a manager, or list the managers', async () =>
    listed((await import('../manager/cli/manager-start.js')).managerCommand(workerLauncher)),
  ),
  entry('agent', 'Run an agent on this board, or manage agent releases', loadAgentCommands),
  entry('node', 'Manage the nodes of the fleet', async () =>
    listed((await import('../manager/cli/node.js')).nodeCommand),
  ),
  entry('service', 'Manage services', async () =>
    listed((await import('../manager/cli/service/index.js')).serviceCommand),
  ),
  entry('stack', 'Manage stacks (applications from Compose files)', async () =>
    listed((await import('../manager/cli/stack/index.js')).stackCommand),
  ),
  entry('image', 'Manage images the fleet serves to its boards', async () =>
    listed((await import('../manager/cli/image/index.js')).imageCommand),
  ),
  entry('bundle', 'Make signed offline bundles for boards with no network', async () =>
    listed((await import('../manager/cli/bundle/index.js')).bundleCommand),
  ),
  entry('network', 'Manage networks', async () =>
    listed((await import('../manager/cli/network.js')).networkCommand),
  ),
  entry('os', 'Build, configure, inspect and flash board images', async () =>
    listed((await import('../manager/cli/os/index.js')).osCommand),
  ),
  entry('secret', 'Manage secrets (encrypted, delivered only where used)', async () =>
    listed((await import('../manager/cli/secret.js')).secretCommand),
  ),
  entry('config', 'Manage configs', async () =>
    listed((await import('../manager/cli/secret.js')).configCommand),
  ),
  entry(
    'events',
    'Show cluster events (nodes, tasks, services, updates, leaders) and follow new ones',
    async () => listed((await import('../manager/cli/events.js')).eventsCommand),
  ),
  entry(
    'soak',
    'Soak-test the fleet: workload, faults, invariants checked throughout, and a report',
    async () => listed((await import('../manager/cli/soak/index.js')).soakCommand),
  ),
  entry('join-token <role>', 'Print the command that joins a board to the fleet', async () =>
    listed((await import('../manager/cli/join-token.js')).joinTokenCommand),
  ),
  entry('dashboard', 'Web dashboard access', async () =>
    listed((await import('../manager/cli/dashboard.js')).dashboardCommand),
  ),
  entry('context', 'Manage saved connections to fleets', async () =>
    listed((await import('../manager/cli/context.js')).contextCommand),
  ),
  entry('sim', 'Simulate boards: many agents on a fake engine in one process', loadSimCommands),
  entry('completion <shell>', 'Print a shell completion script for fleet', async () => {
    const { completionCommand } = await import('../manager/cli/completion.js');
    return listed(completionCommand(() => Promise.all(TOP_LEVEL.map((e) => e.load()))));
  }),
];

/**
 * `fleet agent start` (the agent's own flags, as the bundled agent takes them) beside
 * `fleet agent release` (a manager client): the group is assembled here, where both may be seen.
 */
async function loadAgentCommands(): Promise<ListedCommand> {
  const [{ agentStartCommand }, { agentReleaseCommand }] = await Promise.all([
    import('../agent/cli.js'),
    import('../manager/cli/agent-release/index.js'),
  ]);
  return listed(
    commandGroup('agent', 'Run an agent on this board, or manage agent releases', [
      listed(agentStartCommand),
      listed(agentReleaseCommand),
    ]),
  );
}

/** `fleet sim agents` runs Agent objects; the cluster it joins by default is found as a client would. */
async function loadSimCommands(): Promise<ListedCommand> {
  const { simAgentsCommand } = await import('../agent/sim/command.js');
  const findLocal = async (insecure: boolean) =>
    (await import('../manager/cli/sim-cluster.js')).findLocalCluster(insecure);
  return listed(
    commandGroup('sim', 'Simulate boards: many agents on a fake engine in one process', [
      listed(simAgentsCommand(findLocal)),
    ]),
  );
}

/** Runs the CLI on `argv` (without node and script); sets process.exitCode instead of exiting. */
export async function main(commandLine: string[]): Promise<void> {
  // `fleet --help` is answered from the table alone: loading the option parser would double
  // the time it takes (a test checks the text is what the parser would print).
  if (commandLine.length === 1 && (commandLine[0] === '--help' || commandLine[0] === '-h')) {
    process.stdout.write(topLevelHelp(USAGE, TOP_LEVEL));
    return;
  }
  const argv = await taskWordsApart(commandLine);
  const parser = await buildParser(argv);
  try {
    await parser.parseAsync(argv);
  } catch (e) {
    process.exitCode = report(e, argv);
  }
}

const USAGE = '$0 <command> [options]\n\nRun containers on a fleet of small boards.';

/** The parser for `argv`, with the command it names loaded and the others listed. */
export async function buildParser(argv: readonly string[]): Promise<Argv> {
  const { default: yargs } = await import('yargs');
  const parser = yargs()
    .scriptName('fleet')
    .usage(USAGE)
    // A task's words arrive as positionals and must stay as typed: "1e3" is not 1000.
    .parserConfiguration({ 'parse-positional-numbers': false });
  const first = argv.find((a) => !a.startsWith('-'));
  for (const e of TOP_LEVEL) {
    const chosen = first !== undefined && selectors(e).includes(first);
    (chosen ? await e.load() : e).register(parser);
  }
  parser
    .demandCommand(1, 'fleet needs a command')
    .strict()
    .recommendCommands()
    .help()
    .alias('help', 'h')
    .version(FLEET_VERSION)
    .exitProcess(false)
    .fail((msg, err) => {
      // An unknown flag takes the next word as its value, so yargs may first complain about a
      // missing positional; the flag is what the user needs to hear about.
      const unknown = err || msg?.startsWith('Did you mean') ? [] : unknownFlags(argv, parser);
      const plural = unknown.length > 1 ? 's' : '';
      throw asUsageError(
        unknown.length > 0 ? `Unknown argument${plural}: ${unknown.join(', ')}` : msg,
        err,
      );
    });
  return parser.wrap(Math.min(100, parser.terminalWidth()));
}

/** `service create`: the image and every word after it are the task's, flags included, as in Docker. */
async function taskWordsApart(argv: readonly string[]): Promise<string[]> {
  if (argv[0] === 'stack') return composeFromStdin(argv);
  if (argv[0] !== 'service' || argv[1] !== 'create') return [...argv];
  const { createFlagTable } = await import('../manager/cli/service/create.js');
  const { splitAtImage } = await import('../manager/cli/service/task-argv.js');
  return [...argv.slice(0, 2), ...splitAtImage(argv.slice(2), createFlagTable())];
}

/** `-c -` (read the Compose file from stdin) as yargs reads it: it takes a lone "-" for no value. */
function composeFromStdin(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] ?? '';
    if ((word === '-c' || word === '--compose-file') && argv[i + 1] === '-') {
      out.push('--compose-file=-');
      i++;
    } else out.push(word);
  }
  return out;
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

/** The option table of the command yargs was parsing when it failed: public, though not in @types/yargs. */
interface OptionTable {
  getOptions(): { key: Record<string, unknown> };
}

/** Flags on the command line that the selected command does not define, without their dashes. */
function unknownFlags(argv: readonly string[], parser: object): string[] {
  if (!('getOptions' in parser) || typeof parser.getOptions !== 'function') return [];
  const known = new Set(Object.keys((parser as OptionTable).getOptions().key));
  const camel = (s: string): string => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  // yargs accepts either spelling of a flag, and --no-X for a boolean X.
  const isKnown = (name: string): boolean =>
    [name, name.replace(/^no-/, '')].some(
      (n) => known.has(n) || known.has(camel(n)) || known.has(kebab(n)),
    );
  const unknown: string[] = [];
  for (const arg of argv) {
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-' || /^-\d/.test(arg)) continue;
    // A short group such as -dq or -p8080:80 is judged by its first letter only.
    const name = arg.startsWith('--') ? (arg.slice(2).split('=')[0] ?? '') : arg.charAt(1);
    if (name && !isKnown(name)) unknown.push(name);
  }
  return unknown;
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
