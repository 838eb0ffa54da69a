// `fleet service create`: defines a service from an image and flags, then follows it until it converges.
import yargs, { type Argv } from 'yargs';
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { envOption, labelOption } from '../flags/env-labels.js';
import { fileRefOption } from '../flags/file-refs.js';
import { healthcheckOf, withHealthOptions } from '../flags/health.js';
import { withProgress } from '../flags/output.js';
import { constraintOption, maxReplicasPerNodeOption } from '../flags/placement.js';
import { publishOption } from '../flags/publish.js';
import { reserveCpuOption, reserveMemoryOption } from '../flags/resources.js';
import { withRestartOptions } from '../flags/restart.js';
import { withServiceOptions } from '../flags/service-options.js';
import { withStopOptions } from '../flags/stop.js';
import { updateConfigsOf, withUpdateOptions } from '../flags/rollout.js';
import { registryAuthFor, withRegistryAuthOption } from '../flags/registry-auth.js';
import { countOption } from '../flags/values.js';
import { waitForConvergence } from './follow.js';
import { SERVICE_MODES } from '../../../shared/spec.js';
import { buildSpec } from './spec.js';
import { shellWords, type FlagTable } from './task-argv.js';

export const create = defineCommand({
  command: 'create <image> [command..]',
  describe: 'Create a service',
  builder: (y) => {
    const placed = withUpdateOptions(
      withStopOptions(withHealthOptions(withProgress(withConnection(y)))),
    )
      .positional('image', { type: 'string', demandOption: true, describe: 'container image' })
      .positional('command', {
        type: 'string',
        array: true,
        describe: "command and arguments: every word after the image is the task's, flags too",
      })
      .option('entrypoint', {
        type: 'string',
        requiresArg: true,
        describe: "replace the image's entrypoint (a command line, split as a shell would)",
      })
      .option('name', { type: 'string', demandOption: true, describe: 'service name' })
      .option('mode', {
        choices: SERVICE_MODES,
        default: 'replicated' as const,
        describe:
          'replicated: --replicas tasks; global: one task on every eligible node; replicated-job: ' +
          'run --replicas tasks to completion; global-job: run once on every eligible node',
      })
      .option(
        'replicas',
        countOption('replicas', 'number of tasks, or completions of a replicated job [default: 1]'),
      )
      .option(
        'max-concurrent',
        countOption(
          'max-concurrent',
          'tasks of a replicated job run at once [default: --replicas]',
        ),
      )
      .option('env', envOption)
      .option('publish', publishOption)
      .option('constraint', constraintOption)
      .option('reserve-cpu', reserveCpuOption)
      .option('reserve-memory', reserveMemoryOption)
      .option('max-replicas-per-node', {
        ...maxReplicasPerNodeOption,
        alias: 'replicas-max-per-node', // Docker's name
      });
    // Help lists the flags in the order they are added: the restart policy comes before labels.
    return withServiceOptions(withRestartOptions(placed))
      .option('label', labelOption('service label KEY=VALUE, repeatable'))
      .option('secret', fileRefOption('secret'))
      .option('config', fileRefOption('config'))
      .option('with-registry-auth', withRegistryAuthOption)
      .example('$0 service create --name web --replicas 3 -p 8080:80 nginx:alpine', '')
      .example("$0 service create --name probe --mode global busybox sh -c 'sleep 1d'", '');
  },
  handler: async (argv) => {
    // The words after the image arrive after `--` (see splitAtImage), left in argv._ behind the
    // command path (service create).
    const afterDashes = argv._.slice(2).map(String);
    const health = healthcheckOf(argv);
    const spec = buildSpec({
      ...argv,
      command: [...(argv.command ?? []), ...afterDashes],
      entrypoint:
        argv.entrypoint === undefined ? undefined : shellWords(argv.entrypoint, 'entrypoint'),
      ...(health ? { health } : {}),
      ...updateConfigsOf(argv),
    });
    const registryAuth = argv.withRegistryAuth ? await registryAuthFor(spec.task.image) : undefined;
    await withClient(argv, async (c) => {
      const created = await c.call('service.create', {
        spec,
        ...(registryAuth ? { registryAuth } : {}),
      });
      process.stdout.write(`${created.id}\n`);
      if (!argv.detach) await waitForConvergence(c, spec.name, { timeoutMs: argv.timeout });
    });
  },
});

/** Which of `service create`'s flags take no value, read from its own option table. */
export function createFlagTable(): FlagTable {
  const y = yargs();
  (create.builder as (y: Argv) => Argv)(y);
  const o = (y as unknown as OptionTable).getOptions();
  const booleans = new Set<string>([...o.boolean, 'help', 'h']);
  for (const name of o.boolean) for (const a of o.alias[name] ?? []) booleans.add(a);
  return { booleans };
}

/** The option table of a yargs instance: public, though not in @types/yargs. */
interface OptionTable {
  getOptions(): { boolean: string[]; alias: Record<string, string[] | undefined> };
}
