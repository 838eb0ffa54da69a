// `fleet service create|ls|ps|inspect|scale|update|rollback|promote|rm`: define services, watch them converge.
import type { CommandModule } from 'yargs';
import type { ServiceDetail, TaskView } from '../../shared/api.js';
import { FleetError, errorMessage, isFleetError } from '../../shared/errors.js';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ProgressPrinter,
  formatDuration,
  printJson,
  printServices,
  renderServiceDetail,
  printTasks,
  progressLines,
} from './format.js';
import {
  buildSpec,
  bytesFlag,
  constraintsFlag,
  countFlag,
  defineCommand,
  durationFlag,
  nonNegativeFlag,
  parseKeyValues,
  parsePublish,
  parseScale,
  withClient,
  withConnection,
  withFormat,
  withProgress,
} from './options.js';
import type { RpcClient } from './rpc-client.js';
import { parseFileRefs } from './file-ref.js';
import { healthcheckOf, withLifecycleOptions } from './health-options.js';
import { updateConfigsOf, withUpdateOptions } from './update-options.js';

const repeatable = { type: 'string', array: true, nargs: 1, default: [] as string[] } as const;

const create = defineCommand({
  command: 'create <image> [command..]',
  describe: 'Create a service',
  builder: (y) =>
    withUpdateOptions(withLifecycleOptions(withProgress(withConnection(y))))
      .positional('image', { type: 'string', demandOption: true, describe: 'container image' })
      .positional('command', {
        type: 'string',
        array: true,
        describe: 'command and arguments; after -- when they contain flags',
      })
      .option('name', { type: 'string', demandOption: true, describe: 'service name' })
      .option('mode', {
        choices: ['replicated', 'global'] as const,
        default: 'replicated' as const,
        describe: 'replicated: --replicas tasks; global: one task on every eligible node',
      })
      .option('replicas', {
        requiresArg: true,
        describe: 'number of tasks [default: 1]',
        coerce: (v: unknown) => countFlag('replicas', v),
      })
      .option('env', {
        ...repeatable,
        alias: 'e',
        describe: 'environment variable KEY=VALUE, repeatable',
        coerce: (v: string[]) => parseKeyValues('env', v, true),
      })
      .option('publish', {
        ...repeatable,
        alias: 'p',
        describe:
          'publish a port: 8080:80[/udp] or published=8080,target=80,protocol=tcp,mode=host',
        coerce: (v: string[]) => v.map(parsePublish),
      })
      .option('constraint', {
        ...repeatable,
        describe: "placement rule such as 'node.labels.zone==garage', repeatable",
        coerce: (v: string[]) => constraintsFlag('constraint', v),
      })
      .option('reserve-cpu', {
        requiresArg: true,
        describe: 'CPU cores a node must have free, e.g. 0.5',
        coerce: (v: unknown) => nonNegativeFlag('reserve-cpu', v),
      })
      .option('reserve-memory', {
        type: 'string',
        describe: 'memory a node must have free, e.g. 64M',
        coerce: (v: string) => bytesFlag('reserve-memory', v),
      })
      .option('max-replicas-per-node', {
        requiresArg: true,
        describe: 'most tasks of this service on one node [default: no limit]',
        coerce: (v: unknown) => countFlag('max-replicas-per-node', v),
      })
      .option('restart-condition', {
        choices: ['none', 'on-failure', 'any'] as const,
        describe: 'when to restart a task that exits [default: any]',
      })
      .option('restart-delay', {
        type: 'string',
        describe: 'wait between restarts, e.g. 5s [default: 5s]',
        coerce: (v: string) => durationFlag('restart-delay', v),
      })
      .option('restart-max-attempts', {
        requiresArg: true,
        describe: 'give up after this many restarts within the window [default: no limit]',
        coerce: (v: unknown) => countFlag('restart-max-attempts', v),
      })
      .option('restart-window', {
        type: 'string',
        describe: 'window over which restarts are counted, e.g. 1m [default: unbounded]',
        coerce: (v: string) => durationFlag('restart-window', v),
      })
      .option('label', {
        ...repeatable,
        alias: 'l',
        describe: 'service label KEY=VALUE, repeatable',
        coerce: (v: string[]) => parseKeyValues('label', v),
      })
      .option('secret', {
        ...repeatable,
        describe: 'give tasks a secret: NAME[,target=PATH] (default /run/secrets/NAME), repeatable',
        coerce: (v: string[]) => parseFileRefs('secret', 'secret', v),
      })
      .option('config', {
        ...repeatable,
        describe: 'give tasks a config: NAME[,target=PATH] (default /NAME), repeatable',
        coerce: (v: string[]) => parseFileRefs('config', 'config', v),
      })
      .example('$0 service create --name web --replicas 3 -p 8080:80 nginx:alpine', '')
      .example("$0 service create --name probe --mode global busybox -- sh -c 'sleep 1d'", ''),
  handler: async (argv) => {
    // Words after `--` are left in argv._, behind the command path (service create).
    const afterDashes = argv._.slice(2).map(String);
    const health = healthcheckOf(argv);
    const spec = buildSpec({
      ...argv,
      command: [...(argv.command ?? []), ...afterDashes],
      ...(health ? { health } : {}),
      ...updateConfigsOf(argv),
    });
    await withClient(argv, async (c) => {
      const created = await c.call('service.create', { spec });
      process.stdout.write(`${created.id}\n`);
      if (!argv.detach) await waitForConvergence(c, spec.name, { timeoutMs: argv.timeout });
    });
  },
});

const ls = defineCommand({
  command: 'ls',
  aliases: ['list'],
  describe: 'List services',
  builder: (y) => withFormat(withConnection(y)),
  handler: async (argv) => {
    const services = await withClient(argv, (c) => c.call('service.ls', {}));
    if (argv.format === 'json') printJson(services);
    else printServices(services);
  },
});

const ps = defineCommand({
  command: 'ps <service>',
  describe: "List a service's tasks, current and past",
  builder: (y) =>
    withFormat(withConnection(y)).positional('service', {
      type: 'string',
      demandOption: true,
      describe: 'service name or id',
    }),
  handler: async (argv) => {
    const tasks = await withClient(argv, (c) => c.call('service.ps', { service: argv.service }));
    if (argv.format === 'json') printJson(tasks);
    else printTasks(tasks);
  },
});

const inspect = defineCommand({
  command: 'inspect <service>',
  describe: 'Show a service, its full spec and its ingress traffic, as JSON (or --pretty)',
  builder: (y) =>
    withFormat(withConnection(y))
      .positional('service', { type: 'string', demandOption: true })
      .option('pretty', {
        type: 'boolean',
        default: false,
        describe: 'a readable summary instead of JSON: ports, tasks serving them, traffic',
      }),
  handler: async (argv) => {
    // JSON unless asked otherwise: scripts read this output.
    if (!argv.pretty) {
      printJson(
        await withClient(argv, (c) => c.call('service.inspect', { service: argv.service })),
      );
      return;
    }
    const [detail, tasks] = await withClient(argv, async (c) => {
      const d = await c.call('service.inspect', { service: argv.service });
      const ts = await c.call('service.ps', { service: d.id, all: false });
      return [d, ts] as const;
    });
    process.stdout.write(renderServiceDetail(detail, tasks));
  },
});

const scale = defineCommand({
  command: 'scale <scales..>',
  describe: 'Set the number of replicas of one or more services (SERVICE=REPLICAS)',
  builder: (y) =>
    withProgress(withConnection(y))
      .positional('scales', {
        type: 'string',
        array: true,
        demandOption: true,
        coerce: (v: string[]) => v.map(parseScale),
      })
      .example('$0 service scale web=5 worker=2', ''),
  handler: async (argv) => {
    await withClient(argv, async (c) => {
      for (const { service, replicas } of argv.scales) {
        await c.call('service.update', { service, replicas });
        process.stdout.write(`${service} scaled to ${replicas}\n`);
      }
      if (argv.detach) return;
      for (const { service } of argv.scales) {
        await waitForConvergence(c, service, { timeoutMs: argv.timeout });
      }
    });
  },
});

const update = defineCommand({
  command: 'update <service>',
  describe: 'Change a service; its tasks are replaced, a few at a time, when the template changes',
  builder: (y) =>
    withUpdateOptions(withLifecycleOptions(withProgress(withConnection(y))))
      .positional('service', { type: 'string', demandOption: true })
      .option('replicas', {
        requiresArg: true,
        describe: 'number of tasks',
        coerce: (v: unknown) => countFlag('replicas', v),
      })
      .option('image', { type: 'string', requiresArg: true, describe: 'new container image' })
      .option('env-add', {
        ...repeatable,
        describe: 'add or change an environment variable KEY=VALUE',
        coerce: (v: string[]) => parseKeyValues('env-add', v, true),
      })
      .option('env-rm', { ...repeatable, describe: 'remove an environment variable' })
      .option('constraint-add', {
        ...repeatable,
        describe: 'add a placement constraint',
        coerce: (v: string[]) => constraintsFlag('constraint-add', v),
      })
      .option('constraint-rm', { ...repeatable, describe: 'remove a constraint, written as added' })
      .option('secret-add', {
        ...repeatable,
        describe: 'add a secret NAME[,target=PATH]; one at the same target is replaced',
        coerce: (v: string[]) => parseFileRefs('secret-add', 'secret', v),
      })
      .option('secret-rm', { ...repeatable, describe: 'stop giving tasks a secret (NAME)' })
      .option('config-add', {
        ...repeatable,
        describe: 'add a config NAME[,target=PATH]; one at the same target is replaced',
        coerce: (v: string[]) => parseFileRefs('config-add', 'config', v),
      })
      .option('config-rm', { ...repeatable, describe: 'stop giving tasks a config (NAME)' })
      .option('publish-add', {
        ...repeatable,
        describe: 'publish a port: 8080:80[/udp] or published=8080,target=80[,proxy=v2]',
        coerce: (v: string[]) => v.map(parsePublish),
      })
      .option('publish-rm', {
        ...repeatable,
        describe: 'withdraw the port published on PORT[/tcp|/udp]',
      })
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'replace tasks even if nothing changed',
      }),
  handler: async (argv) => {
    const { service } = argv;
    const settings = updateConfigsOf(argv);
    await withClient(argv, async (c) => {
      // What the service was, to tell whether this update replaces tasks and is worth following.
      const before = argv.detach ? undefined : await c.call('service.inspect', { service });
      const after = await c.call('service.update', {
        service,
        replicas: argv.replicas,
        image: argv.image,
        envAdd: argv.envAdd,
        envRm: argv.envRm,
        constraintAdd: argv.constraintAdd,
        constraintRm: argv.constraintRm,
        secretAdd: argv.secretAdd,
        secretRm: argv.secretRm,
        configAdd: argv.configAdd,
        configRm: argv.configRm,
        publishAdd: argv.publishAdd,
        publishRm: argv.publishRm,
        healthcheck: healthcheckOf(argv),
        drainTimeoutMs: argv.drainTimeout,
        stopGracePeriodMs: argv.stopGracePeriod,
        init: argv.init,
        force: argv.force,
        ...settings,
      });
      process.stdout.write(`${service}\n`);
      if (!before) return;
      if (replacesTasks(before, after))
        await followUpdate(c, service, { timeoutMs: argv.timeout, kind: 'update' });
      else await waitForConvergence(c, service, { timeoutMs: argv.timeout });
    });
  },
});

/** A command that acts on one service's update, then follows it unless --detach. */
function updateActionCommand(
  name: 'rollback' | 'promote',
  describe: string,
  kind: 'update' | 'rollback',
) {
  return defineCommand({
    command: `${name} <service>`,
    describe,
    builder: (y) =>
      withProgress(withConnection(y)).positional('service', { type: 'string', demandOption: true }),
    handler: async (argv) => {
      const { service } = argv;
      await withClient(argv, async (c) => {
        await c.call(`service.${name}`, { service });
        process.stdout.write(`${service}\n`);
        if (argv.detach) return;
        await followUpdate(c, service, { timeoutMs: argv.timeout, kind });
      });
    },
  });
}

const rollback = updateActionCommand(
  'rollback',
  'Return a service to its spec before the last update',
  'rollback',
);
const promote = updateActionCommand(
  'promote',
  "Let an update go on past its canaries to the service's other tasks",
  'update',
);

const rm = defineCommand({
  command: 'rm <services..>',
  aliases: ['remove'],
  describe: 'Remove one or more services',
  builder: (y) =>
    withConnection(y).positional('services', { type: 'string', array: true, demandOption: true }),
  handler: async (argv) => {
    const failures: FleetError[] = [];
    await withClient(argv, async (c) => {
      for (const service of argv.services) {
        try {
          await c.call('service.rm', { service });
          process.stdout.write(`${service}\n`);
        } catch (e) {
          if (!isFleetError(e)) throw e;
          failures.push(e);
        }
      }
    });
    const first = failures[0];
    if (first) throw new FleetError(first.code, failures.map(errorMessage).join('; '));
  },
});

export const serviceCommand: CommandModule<object, object> = {
  command: 'service',
  describe: 'Manage services',
  builder: (y) =>
    y
      .command(create)
      .command(ls)
      .command(ps)
      .command(inspect)
      .command(scale)
      .command(update)
      .command(rollback)
      .command(promote)
      .command(rm)
      .demandCommand(
        1,
        'fleet service needs a subcommand: create, ls, ps, inspect, scale, update, rollback, promote or rm',
      ),
  handler: () => undefined,
};

// ---- convergence: poll until the tasks match the spec, as docker service create does

const POLL_MS = 300;
/** Converged must hold on consecutive polls, so a task that starts and dies at once is caught. */
const STABLE_POLLS = 2;
const IN_PROGRESS: ReadonlySet<string> = new Set([
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'starting',
]);

export interface Convergence {
  converged: boolean;
  running: number;
  desired: number;
  /** Progress lines: "overall" first, then one per task name (slot, or node for global services). */
  lines: Map<string, string>;
}

/**
 * Converged: as many current tasks running (and healthy, when checked) as desired, and none
 * still on its way. After an update that replaces tasks, only tasks of the service's current
 * spec version count.
 */
export function convergence(detail: ServiceDetail, tasks: readonly TaskView[]): Convergence {
  const isCurrent = (t: TaskView): boolean => t.specVersion === detail.specVersion;
  const wanted = tasks.filter((t) => t.desiredState === 'running');
  // A task with a health check counts once it is healthy, as Docker's convergence does.
  const running = wanted.filter(
    (t) => t.state === 'running' && isCurrent(t) && (t.health === 'none' || t.health === 'healthy'),
  ).length;
  const busy = wanted.some((t) => IN_PROGRESS.has(t.state) || !isCurrent(t));
  const desired = detail.mode === 'replicated' ? detail.spec.replicas : detail.replicas.desired;
  const lines = new Map([
    ['overall', `overall progress: ${running} out of ${desired} tasks running`],
  ]);
  for (const [name, line] of progressLines(tasks, isCurrent)) lines.set(name, line);
  return { converged: running === desired && !busy, running, desired, lines };
}

/** What one poll of a followed service found. */
interface Reading {
  state: Convergence;
  /** The end the command waits for holds now (it must hold on STABLE_POLLS polls in a row). */
  settled: boolean;
  /** The command's work is over without settling: this is printed and the command returns. */
  stopWith?: string;
  /** Heads the reason when the time runs out. */
  summary?: string;
}

/**
 * Polls a service, printing progress, until `read` says it settled (on consecutive polls) or
 * stops, or throws, or the time runs out.
 */
async function followService(
  client: RpcClient,
  service: string,
  timeoutMs: number,
  read: (detail: ServiceDetail, tasks: TaskView[]) => Reading,
): Promise<void> {
  const printer = new ProgressPrinter(process.stdout);
  const deadline = Date.now() + timeoutMs;
  const stopListening = continueInBackgroundOnInterrupt(service);
  try {
    for (let stable = 0; ; await sleep(POLL_MS)) {
      const [detail, tasks] = await Promise.all([
        client.call('service.inspect', { service }),
        client.call('service.ps', { service, all: true }),
      ]);
      const reading = read(detail, tasks);
      printer.update(reading.state.lines);
      if (reading.stopWith !== undefined) {
        process.stdout.write(`${reading.stopWith}\n`);
        return;
      }
      stable = reading.settled ? stable + 1 : 0;
      if (stable >= STABLE_POLLS) {
        process.stdout.write(`verify: Service ${service} converged\n`);
        return;
      }
      if (Date.now() >= deadline)
        throw notConverged(service, timeoutMs, reading.state, reading.summary);
    }
  } finally {
    stopListening();
  }
}

export async function waitForConvergence(
  client: RpcClient,
  service: string,
  opts: { timeoutMs: number },
): Promise<void> {
  await followService(client, service, opts.timeoutMs, (detail, tasks) => {
    const state = convergence(detail, tasks);
    return { state, settled: state.converged };
  });
}

/** `summary` replaces the count of running tasks at the head of the reason. */
function notConverged(
  service: string,
  timeoutMs: number,
  state: Convergence,
  summary = `${state.running} of ${state.desired} tasks running`,
): FleetError {
  const stuck = [...state.lines]
    .filter(([key, line]) => key !== 'overall' && !line.endsWith(': running'))
    .map(([, line]) => line)
    .slice(0, 3);
  const reason = [summary, ...stuck].join('; ');
  return new FleetError(
    'unavailable',
    `service ${service} did not converge within ${formatDuration(timeoutMs)}: ${reason}`,
  );
}

/** Ctrl-C stops watching, not the service: the managers keep converging it. */
function continueInBackgroundOnInterrupt(service: string): () => void {
  const onInterrupt = (): void => {
    process.stderr.write(
      `\nOperation continuing in the background.\nUse 'fleet service ps ${service}' to check progress.\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  return () => process.off('SIGINT', onInterrupt);
}

// ---- rolling updates: follow one task at a time until the update completes, pauses or rolls back

const isActive = (d: ServiceDetail): boolean =>
  d.updateStatus?.state === 'updating' || d.updateStatus?.state === 'rolling back';

/**
 * Whether an update started (or resumed) replacing tasks: a new spec version, or an update that
 * was paused now running again. A scale, or a change tasks do not see, only needs convergence.
 */
export function replacesTasks(before: ServiceDetail, after: ServiceDetail): boolean {
  return after.specVersion !== before.specVersion || (isActive(after) && !isActive(before));
}

/** Where a followed update stands: still running, over, or stopped short of the end. */
export type UpdateOutcome =
  | { kind: 'running' }
  | { kind: 'done' }
  /** Canaries wait for promotion: the command's work is done. */
  | { kind: 'waiting'; message: string }
  | { kind: 'failed'; message: string };

/** `expect` is what the command asked for: a rollback ending 'rolled back' is its success. */
export function updateOutcome(d: ServiceDetail, expect: 'update' | 'rollback'): UpdateOutcome {
  const u = d.updateStatus;
  if (!u) return { kind: 'done' };
  switch (u.state) {
    case 'updating':
    case 'rolling back':
      return { kind: 'running' };
    case 'completed':
      return { kind: 'done' };
    case 'canary':
      return { kind: 'waiting', message: u.message || `canaries of ${d.name} wait for promotion` };
    case 'rolled back': {
      if (expect === 'rollback') return { kind: 'done' };
      const reason = u.message.replace(/^rolled back:?\s*/, '');
      return {
        kind: 'failed',
        message: `service ${d.name} rolled back${reason ? `: ${reason}` : ''}`,
      };
    }
    case 'paused':
    case 'rollback paused':
      return { kind: 'failed', message: u.message || `${u.kind} of service ${d.name} paused` };
  }
}

/** The progress lines while an update runs: "update: updating, 2 of 6 tasks updated", then tasks. */
export function updateProgress(detail: ServiceDetail, tasks: readonly TaskView[]): Convergence {
  const state = convergence(detail, tasks);
  const u = detail.updateStatus;
  const kind = u?.kind ?? 'update';
  const done = kind === 'rollback' ? 'rolled back' : 'updated';
  const failed = u && u.failedTasks > 0 ? `, ${u.failedTasks} failed` : '';
  const overall = `${kind}: ${u?.state ?? 'updating'}, ${state.running} of ${state.desired} tasks ${done}${failed}`;
  const lines = new Map([['overall', overall]]);
  for (const [key, line] of state.lines) if (key !== 'overall') lines.set(key, line);
  return { ...state, lines };
}

/**
 * Follows an update or rollback until it ends: completed (and converged) returns, canaries
 * waiting for promotion return with their message, a pause or an unwanted rollback throws.
 */
export async function followUpdate(
  client: RpcClient,
  service: string,
  opts: { timeoutMs: number; kind: 'update' | 'rollback' },
): Promise<void> {
  await followService(client, service, opts.timeoutMs, (detail, tasks) => {
    const state = updateProgress(detail, tasks);
    const outcome = updateOutcome(detail, opts.kind);
    if (outcome.kind === 'failed') throw new FleetError('conflict', outcome.message);
    if (outcome.kind === 'waiting') return { state, settled: false, stopWith: outcome.message };
    return {
      state,
      settled: outcome.kind === 'done' && state.converged,
      summary: state.lines.get('overall'),
    };
  });
}
