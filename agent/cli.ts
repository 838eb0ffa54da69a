// `fleet agent start`: the flags of an agent, shared by the fleet CLI and the bundled agent (`fleet-agent start`).
import { withImageOptions } from './cli-image-options.js';
import { withOtaOptions } from './cli-ota-options.js';
import { rotationOf, withLogOptions } from './cli-log-options.js';
import { withChaosOptions } from './cli-chaos-options.js';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import type { AgentStartFlags } from './start.js';
import { waitForShutdownSignal } from '../shared/signals.js';
import {
  DEFAULT_MIN_FREE_DISK,
  parseDiskReserve,
  type DiskReserve,
} from './reconcile/preflight.js';

/** The period of the timer that keeps the agent process alive; it does nothing when it fires. */
const KEEP_ALIVE_MS = 3_600_000;

interface AgentArgs {
  action: string;
  manager?: string;
  token?: string;
  'data-dir': string;
  'advertise-addr': string;
  name?: string;
  label: string[];
  runtime: 'docker' | 'process';
  'remove-tasks-on-stop': boolean;
  insecure: boolean;
  'allow-devices': boolean;
  'min-free-disk': DiskReserve;
  'network-pool': string;
  'docker-host'?: string;
  'max-bandwidth': number;
  'blob-port': number;
  'serve-blobs': boolean;
  config?: string;
  supervise: boolean;
  'upgrade-monitor': number;
  profile: 'default' | 'metered';
  'bundle-dir': string[];
  'log-budget': number;
  'log-max-size': number;
  'log-max-files': number;
  'allow-chaos': boolean;
  'chaos-engine-restart'?: string;
}

/** `agent <action>` of the bundled agent, whose one action is start. */
export const agentCommand: CommandModule<object, AgentArgs> = {
  command: 'agent <action>',
  describe: 'run an agent on this board',
  builder: (y: Argv) =>
    startOptions(
      y.positional('action', {
        choices: ['start'],
        describe: 'what to do',
        demandOption: true,
        type: 'string',
      }),
    ),
  handler: (argv) => runAgent(argv),
};

/** `fleet agent start`: the same flags, as a subcommand beside `fleet agent release`. */
export const agentStartCommand: CommandModule<object, Omit<AgentArgs, 'action'>> = {
  command: 'start',
  describe: 'Run an agent on this board',
  builder: (y: Argv) => startOptions(y),
  handler: (argv) => runAgent(argv),
};

function startOptions<T>(y: Argv<T>) {
  return withChaosOptions(withLogOptions(withOtaOptions(withImageOptions(y))))
    .option('manager', {
      type: 'string',
      describe: 'manager address HOST:PORT; a comma-separated list for failover',
    })
    .option('token', { type: 'string', describe: 'join token (needed on the first start only)' })
    .option('config', {
      type: 'string',
      describe:
        "a flashed board's settings (fleet.json on its boot partition): managers, token, name pattern, labels; flags win; the token is removed once used; images in preload/ beside it are loaded first",
    })
    .option('data-dir', {
      type: 'string',
      default: './fleet-data/agent',
      describe: 'where the agent keeps its identity and assignment',
    })
    .option('advertise-addr', {
      type: 'string',
      default: '127.0.0.1',
      describe: 'address this node publishes ports on',
    })
    .option('name', { type: 'string', describe: 'node name (default: the hostname)' })
    .option('bundle-dir', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'where USB sticks are mounted: fleet-bundle*.fleet found there is applied',
    })
    .option('label', {
      type: 'string',
      array: true,
      default: [] as string[],
      describe: 'node label k=v (repeatable)',
    })
    .option('remove-tasks-on-stop', {
      type: 'boolean',
      default: false,
      hidden: true,
      describe: "stop and remove this node's tasks when the agent stops (used by fleet up)",
    })
    .option('runtime', {
      choices: ['docker', 'process'] as const,
      default: 'docker' as const,
      describe: 'how tasks run',
    })
    .option('profile', {
      choices: ['default', 'metered'] as const,
      default: 'default' as const,
      describe:
        'link profile: metered (paid-per-byte links) sends almost nothing while idle, and the manager finds the board down in ~30 min instead of ~6 s',
    })
    .option('insecure', {
      type: 'boolean',
      default: false,
      describe: 'plain TCP to a manager started with --insecure (or FLEET_INSECURE=1)',
    })
    .option('allow-devices', {
      type: 'boolean',
      default: false,
      describe:
        'run tasks that use --device, --privileged, --cap-add/--cap-drop, --group-add, --sysctl or --ulimit',
    })
    .option('network-pool', {
      type: 'string',
      default: '10.213.0.0/16',
      describe: 'IPv4 pool the bridges of cluster networks take a /24 from each',
    })
    .option('min-free-disk', {
      type: 'string',
      default: DEFAULT_MIN_FREE_DISK,
      describe:
        "disk space to keep free on the runtime's disk (256M, 1G, 5%): tasks that would leave less are rejected",
      coerce: (v: string) => {
        const r = parseDiskReserve(String(v));
        if (!r) throw new Error(`--min-free-disk must be a size such as 256M or 5%, got "${v}"`);
        return r;
      },
    });
}

/** Starts the agent and keeps it running until a signal. */
async function runAgent(argv: Omit<AgentArgs, 'action'>): Promise<void> {
  if (argv.supervise) {
    const { superviseAgent } = await import('./ota/supervise-cli.js');
    const dataDir = argv['data-dir'];
    process.exitCode = await superviseAgent({ dataDir, monitorMs: argv['upgrade-monitor'] });
    return;
  }
  const labels: Record<string, string> = {};
  for (const l of argv.label) {
    const i = l.indexOf('=');
    if (i <= 0) throw new Error(`--label must be k=v, got "${l}"`);
    labels[l.slice(0, i)] = l.slice(i + 1);
  }
  const board = argv.config ? await boardOptions(argv.config) : undefined;
  const managers = (argv.manager ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const token = argv.token ?? board?.start.token;
  const name = argv.name ?? board?.start.name;
  const { startAgent } = await import('./start.js');
  const { insecureRequested } = await import('../shared/transport.js');
  const ota = await underSupervisor();
  const flags: AgentStartFlags = {
    managers: managers.length > 0 ? managers : (board?.start.managers ?? []),
    ...(token ? { token } : {}),
    dataDir: argv['data-dir'],
    advertiseAddr: argv['advertise-addr'],
    ...(name ? { name } : {}),
    labels: { ...board?.start.labels, ...labels },
    runtime: argv.runtime,
    insecure: insecureRequested(argv.insecure),
    profile: argv.profile,
    minFreeDisk: argv['min-free-disk'],
    allowDevices: argv['allow-devices'] === true,
    networkPool: argv['network-pool'],
    ...(argv['docker-host'] !== undefined ? { dockerHost: argv['docker-host'] } : {}),
    maxBandwidth: argv['max-bandwidth'],
    logBudget: argv['log-budget'],
    logRotation: rotationOf(argv),
    blobPort: argv['serve-blobs'] ? argv['blob-port'] : null,
    allowChaos: argv['allow-chaos'],
    ...(argv['chaos-engine-restart'] ? { chaosEngineRestart: argv['chaos-engine-restart'] } : {}),
    ...(argv.config ? { bootDir: path.dirname(argv.config) } : {}),
    ...(ota ? { onReconciled: () => ota.child.reportHealthy(), ota: ota.child } : {}),
  };
  const agent = await (ota ? ota.start(flags, () => startAgent(flags)) : startAgent(flags));
  if (ota) await commitBundledRelease(flags.dataDir, ota.child);
  const { watchBundles } = await import('./bundle/watcher.js');
  const { systemClock } = await import('../shared/clock.js');
  const { createLogger } = await import('../shared/log.js');
  const bundles = await watchBundles(
    {
      dataDir: flags.dataDir,
      dirs: argv['bundle-dir'],
      runtime: flags.runtime,
      ...(flags.dockerHost !== undefined ? { dockerHost: flags.dockerHost } : {}),
      clock: systemClock,
      logger: createLogger('bundles'),
      ...(ota ? { ota: ota.child } : {}),
    },
    agent,
  );
  if (board)
    await board.forgetToken().catch((e: unknown) => {
      const why = e instanceof Error ? e.message : String(e);
      process.stderr.write(`warning: the join token stays in ${argv.config}: ${why}\n`);
    });
  process.stdout.write(
    `agent ${agent.nodeId} running; Ctrl-C to stop ${argv['remove-tasks-on-stop'] ? '' : ' (tasks keep running)'}\n`,
  );
  // The agent's timers never hold the process open (they run on the Clock); the process
  // entry point does, until a signal, so a board that loses every manager keeps its agent.
  const keepAlive = setInterval(() => undefined, KEEP_ALIVE_MS);
  await waitForShutdownSignal();
  clearInterval(keepAlive);
  await bundles.stop();
  if (argv['remove-tasks-on-stop']) await agent.removeAllWorkloads();
  await agent.stop();
}

/** A release an offline bundle brought is healthy once its agent started (agent/bundle/state.ts). */
async function commitBundledRelease(dataDir: string, child: { reportHealthy(): void }) {
  const { bundleBroughtAgent } = await import('./bundle/state.js');
  const { FLEET_VERSION } = await import('../shared/version.js');
  if (await bundleBroughtAgent(dataDir, FLEET_VERSION)) child.reportHealthy();
}

/** The settings file read, its start options, and the removal of its token once joined. */
async function boardOptions(file: string) {
  const { boardFacts, boardStart, forgetBoardToken, readBoardSettings } =
    await import('./board-config.js');
  const settings = await readBoardSettings(file);
  return {
    start: boardStart(settings, await boardFacts()),
    forgetToken: () => forgetBoardToken(file, settings),
  };
}

/** The upgrade supervisor's link and checked start when this agent runs under one (else undefined). */
async function underSupervisor() {
  if (!process.send) return undefined; // no IPC channel: not started by a supervisor
  const { otaChild, startChecked } = await import('./ota/ota-child.js');
  const { selfCheck } = await import('./ota/self-check.js');
  const { makeRuntime } = await import('./start.js');
  const { systemClock } = await import('../shared/clock.js');
  const child = otaChild();
  if (!child) return undefined;
  const runtimeInfo = async (flags: AgentStartFlags) => {
    const runtime = await makeRuntime(flags);
    return runtime.info().finally(() => void runtime.close());
  };
  return {
    child,
    start: <A>(flags: AgentStartFlags, start: () => Promise<A>) =>
      startChecked(
        child,
        () =>
          selfCheck({
            dataDir: flags.dataDir,
            runtimeInfo: () => runtimeInfo(flags),
            clock: systemClock,
          }),
        start,
      ),
  };
}
