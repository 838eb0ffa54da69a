// `fleet manager start|ls`: run a manager (broker, Raft, controllers) until interrupted; list the managers.
import { parseBandwidth } from '../../shared/images/bandwidth.js';
import path from 'node:path';
import type { Argv } from 'yargs';
import type { WorkerLauncher } from '../../shared/worker.js';
import type { StartReport } from '../manager.js';
import { waitForShutdownSignal } from '../../shared/signals.js';
import { parseDuration } from '../../shared/spec.js';
import { managerListing } from './format/node-listing.js';
import { commandGroup, defineCommand, listed } from './command.js';
import { listCommand } from './list-command.js';
import { UsageError } from './usage.js';

export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || !(port >= 0 && port <= 65535)) {
    throw new UsageError(`--${flag} must be HOST:PORT, got "${text}"`);
  }
  return { host: m[1], port };
}

/** Durations as parseDuration reads them, plus days (`90d`), the natural unit for certificates. */
function parseCertExpiry(text: string): number | null {
  const days = /^(\d+)d$/.exec(text.trim());
  if (days?.[1]) return Number(days[1]) * 24 * 3600_000;
  return parseDuration(text);
}

/** The manager command, with what starts the agent beside a manager (see shared/worker.ts). */
export function managerCommand(worker: WorkerLauncher) {
  return commandGroup('manager', 'Run a manager, or list the managers', [
    listed(startCommand(worker)),
    listed(ls),
  ]);
}

const startCommand = (worker: WorkerLauncher) =>
  defineCommand({
    command: 'start',
    describe: 'Run a manager: a new cluster, a restart, or (with --join) one more manager',
    builder: startOptions,
    handler: async (argv) => {
      const listen = parseHostPort(argv.listen, 'listen');
      if (argv['metrics-auth'] && argv['metrics-addr'] === undefined)
        throw new UsageError('--metrics-auth protects /metrics: it needs --metrics-addr');
      const { heartbeatMs, certLifetimeMs } = startTimings(argv);
      const join = joinOption(argv.join, argv.token);
      const raftTiming = electionTiming(argv['election-timeout']);
      const workerProblem = argv.worker
        ? await worker.probe(argv.runtime, workerDir(argv['data-dir']))
        : null;
      if (workerProblem)
        process.stderr.write(
          `WARNING: this manager runs no tasks: the ${argv.runtime} runtime is not usable (${workerProblem}); start it with --no-worker to say so\n`,
        );
      const runsWorker = argv.worker && workerProblem === null;
      const advertise = advertiseAddr(argv['advertise-addr'], listen.host, runsWorker);
      const { ManagerRunner } = await import('../chaos/manager-runner.js');
      const manager = await ManagerRunner.start({
        dataDir: argv['data-dir'],
        host: listen.host,
        port: listen.port,
        heartbeatMs,
        insecure: argv.insecure,
        certLifetimeMs,
        ...(join ? { join } : {}),
        forceNewCluster: argv['force-new-cluster'],
        ...(argv.name ? { name: argv.name } : {}),
        ...(raftTiming ? { raftTiming } : {}),
        faultInjection: argv['fault-injection'],
        worker: runsWorker,
        statsMs: statsInterval(argv['stats-interval']),
        ...(argv['metrics-addr'] !== undefined
          ? { metricsAddr: parseHostPort(argv['metrics-addr'], 'metrics-addr') }
          : {}),
        metricsAuth: argv['metrics-auth'],
        ...(argv['dashboard-addr'] !== undefined
          ? { dashboardAddr: parseHostPort(argv['dashboard-addr'], 'dashboard-addr') }
          : {}),
        ...(argv['max-bandwidth'] !== undefined
          ? { maxBandwidth: bandwidthOption(argv['max-bandwidth']) }
          : {}),
        ...(argv['snapshot-interval'] !== undefined
          ? { snapshotEvery: snapshotInterval(argv['snapshot-interval']) }
          : {}),
        allowChaos: argv['allow-chaos'],
      });
      const r = manager.report;
      const out = process.stdout;
      printStarted(manager.id, r);
      const { MANAGER_IDENTITY_FILE } = await import('../bootstrap/manager-node.js');
      const agent = runsWorker
        ? await worker.start({
            identityFile: path.join(argv['data-dir'], MANAGER_IDENTITY_FILE),
            dataDir: workerDir(argv['data-dir']),
            managers: [r.address],
            advertiseAddr: advertise,
            runtime: argv.runtime,
            insecure: r.insecure,
            allowChaos: argv['allow-chaos'],
          })
        : null;
      if (agent) out.write(`This manager also runs tasks (--no-worker to stop that)\n`);
      const removed = manager.removed().then(() => true);
      if (await Promise.race([waitForShutdownSignal().then(() => false), removed])) {
        process.stderr.write(
          'this manager was removed from the cluster; stopping. To rejoin, clear its data dir and start it with --join.\n',
        );
        process.exitCode = 3;
      }
      out.write('stopping manager\n');
      await agent?.stop();
      await manager.stop();
    },
  });

function joinOption(
  join: string | undefined,
  token: string | undefined,
): { managers: string[]; token: string } | undefined {
  if (join === undefined) {
    if (token !== undefined) throw new UsageError('--token is only used with --join');
    return undefined;
  }
  if (!token) throw new UsageError('--join needs --token MANAGER_TOKEN (fleet join-token manager)');
  const managers = join
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean);
  for (const m of managers) parseHostPort(m, 'join');
  if (managers.length === 0) throw new UsageError('--join needs HOST:PORT');
  return { managers, token };
}

/** Ticks of 1/10 of the election timeout: heartbeats every tick, elections after 10 to 20. */
function electionTiming(
  text: string | undefined,
): { tickMs: number; electionTicks: number; heartbeatTicks: number } | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === null || ms < 100 || ms > 60_000)
    throw new UsageError(`--election-timeout must be between 100ms and 60s, got "${text}"`);
  return { tickMs: Math.round(ms / 10), electionTicks: 10, heartbeatTicks: 1 };
}

const ls = listCommand(
  'List the managers: leader, reachable or not, and how far each has applied the log',
  (c) => c.call('manager.ls', {}),
  managerListing,
);

function snapshotInterval(n: number): number {
  if (!Number.isInteger(n) || n < 10 || n > 1_000_000)
    throw new UsageError(`--snapshot-interval must be a whole number from 10 to 1000000, got ${n}`);
  return n;
}

/** The start command's flags. */
function startOptions(y: Argv) {
  return chaosOption(testOptions(y))
    .option('data-dir', {
      type: 'string',
      default: './fleet-data/manager',
      describe: 'where the manager keeps its state',
    })
    .option('listen', {
      type: 'string',
      default: '127.0.0.1:4883',
      describe: 'HOST:PORT for the MQTT listener',
    })
    .option('metrics-addr', {
      type: 'string',
      describe: 'serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9323)',
    })
    .option('metrics-auth', {
      type: 'boolean',
      default: false,
      describe: '/metrics answers only requests with a bearer token (fleet dashboard token)',
    })
    .option('dashboard-addr', {
      type: 'string',
      describe:
        'serve the web dashboard at https://HOST:PORT/ (sign in with fleet dashboard token)',
    })
    .option('stats-interval', {
      type: 'string',
      default: '30s',
      describe:
        'how often agents send their usage and board health with a heartbeat (e.g. 30s; 0 turns it off)',
    })
    .option('max-bandwidth', {
      type: 'string',
      describe: 'upload limit for images sent to boards, all together, e.g. 10M (bytes per second)',
    })
    .option('heartbeat', {
      type: 'string',
      describe: 'heartbeat period agents use (e.g. 2s); defaults to the cluster setting',
    })
    .option('insecure', {
      type: 'boolean',
      default: false,
      describe: 'listen with plain TCP instead of TLS (development only: traffic is readable)',
    })
    .option('name', {
      type: 'string',
      describe: "this manager's node name (default manager-HOST)",
    })
    .option('join', {
      type: 'string',
      describe: 'join the cluster of the manager(s) at HOST:PORT[,HOST:PORT...] (needs --token)',
    })
    .option('token', {
      type: 'string',
      describe: 'the manager join token (fleet join-token manager), with --join',
    })
    .option('force-new-cluster', {
      type: 'boolean',
      default: false,
      describe:
        'rebuild a one-manager cluster from this data dir when the others are lost (keeps every service and task)',
    })
    .option('worker', {
      type: 'boolean',
      default: true,
      describe:
        'also run tasks on this board: an agent beside the manager, as the same node (--no-worker for a pure manager)',
    })
    .option('advertise-addr', {
      type: 'string',
      describe: "the board's address for the tasks it runs (default: the --listen host)",
    })
    .option('runtime', {
      choices: ['docker', 'process'] as const,
      default: 'docker' as const,
      describe: "the worker's runtime",
    });
}

/** --allow-chaos: fault orders for soak tests (manager/chaos). */
function chaosOption<T>(y: Argv<T>) {
  return y.option('allow-chaos', {
    type: 'boolean',
    default: false,
    describe:
      'carry out fault orders signed by an admin (fleet soak): stop, restart or cut off this manager',
  });
}

/** Hidden options that tests use to shorten timings or cut managers apart. */
function testOptions<T>(y: Argv<T>) {
  return y
    .option('election-timeout', {
      type: 'string',
      hidden: true,
      describe: 'time without a leader before a manager campaigns (default 1s)',
    })
    .option('snapshot-interval', {
      type: 'number',
      hidden: true,
      describe: 'entries applied between snapshots (default 1000); 10% more are kept behind each',
    })
    .option('fault-injection', {
      type: 'boolean',
      hidden: true,
      default: false,
      describe: 'accept the test-only request that cuts this manager off from others',
    })
    .option('cert-expiry', {
      type: 'string',
      hidden: true,
      describe: 'lifetime of the node certificates this manager issues (default 90d)',
    });
}

/** --heartbeat and --cert-expiry, checked. */
function startTimings(argv: { heartbeat?: string; 'cert-expiry'?: string }): {
  heartbeatMs: number | undefined;
  certLifetimeMs: number | undefined;
} {
  let heartbeatMs: number | undefined;
  if (argv.heartbeat !== undefined) {
    const ms = parseDuration(argv.heartbeat);
    if (ms === null || ms < 100)
      throw new UsageError(
        `--heartbeat must be a duration of at least 100ms, got "${argv.heartbeat}"`,
      );
    heartbeatMs = ms;
  }
  let certLifetimeMs: number | undefined;
  if (argv['cert-expiry'] !== undefined) {
    const ms = parseCertExpiry(argv['cert-expiry']);
    if (ms === null || ms < 10_000)
      throw new UsageError(
        `--cert-expiry must be a duration of at least 10s (e.g. 90d), got "${argv['cert-expiry']}"`,
      );
    certLifetimeMs = ms;
  }
  return { heartbeatMs, certLifetimeMs };
}

/** --stats-interval, checked: 0 or a duration of at least 1s. */
function statsInterval(text: string): number {
  const ms = text.trim() === '0' ? 0 : parseDuration(text);
  if (ms === null || (ms > 0 && ms < 1_000) || ms > 86_400_000)
    throw new UsageError(
      `--stats-interval must be 0 or a duration from 1s to 24h (e.g. 30s), got "${text}"`,
    );
  return ms;
}

/** What the operator needs: tokens, the admin identity, and how to point the CLI at it. */
function printStarted(id: string, r: StartReport): void {
  const out = process.stdout;
  if (r.insecure)
    out.write(
      'WARNING: --insecure: the manager listens with plain TCP; join tokens, credentials and all traffic cross the network unencrypted and clients cannot check who they talk to. Use it for development only.\n',
    );
  out.write(
    `${r.created ? 'Created a new fleet' : r.joined ? 'Joined the fleet' : 'Resumed the fleet'}; manager ${id} listening on ${r.address}\n`,
  );
  out.write(`Worker join token:  ${r.workerToken}\n`);
  out.write(`Manager join token: ${r.managerToken}\n`);
  out.write(`Admin identity:     ${r.adminIdentity}\n`);
  if (r.metricsAddress) out.write(`Metrics:            http://${r.metricsAddress}/metrics\n`);
  if (r.dashboardAddress) out.write(`Dashboard:          https://${r.dashboardAddress}/\n`);
  out.write(
    `Point the CLI at it: export FLEET_HOST=${r.address} FLEET_IDENTITY=${r.adminIdentity}\n`,
  );
}

/** Where this board's tasks are reached; a wildcard listener does not say, so the user must. */
function advertiseAddr(given: string | undefined, listenHost: string, worker: boolean): string {
  if (given) return given;
  if (worker && (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '[::]'))
    throw new UsageError(
      `--listen ${listenHost} names no address for the tasks this manager runs: add --advertise-addr BOARD_IP, or --no-worker`,
    );
  return listenHost;
}

/** The agent beside the manager keeps its assignment and task files here. */
const workerDir = (dataDir: string): string => path.join(dataDir, 'worker');

function bandwidthOption(text: string): number {
  const n = parseBandwidth(text);
  if (n === null)
    throw new UsageError(`--max-bandwidth must be a rate such as 10M or 512k, got "${text}"`);
  return n;
}
