// `fleet service create`: defines a service from an image and flags, then follows it until it converges.
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
import { withStopOptions } from '../flags/stop.js';
import { updateConfigsOf, withUpdateOptions } from '../flags/rollout.js';
import { registryAuthFor, withRegistryAuthOption } from '../flags/registry-auth.js';
import { countOption } from '../flags/values.js';
import { waitForConvergence } from './follow.js';
import { buildSpec } from './spec.js';

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
        describe: 'command and arguments; after -- when they contain flags',
      })
      .option('name', { type: 'string', demandOption: true, describe: 'service name' })
      .option('mode', {
        choices: ['replicated', 'global'] as const,
        default: 'replicated' as const,
        describe: 'replicated: --replicas tasks; global: one task on every eligible node',
      })
      .option('replicas', countOption('replicas', 'number of tasks [default: 1]'))
      .option('env', envOption)
      .option('publish', publishOption)
      .option('constraint', constraintOption)
      .option('reserve-cpu', reserveCpuOption)
      .option('reserve-memory', reserveMemoryOption)
      .option('max-replicas-per-node', maxReplicasPerNodeOption);
    // Help lists the flags in the order they are added: the restart policy comes before labels.
    return withRestartOptions(placed)
      .option('label', labelOption('service label KEY=VALUE, repeatable'))
      .option('secret', fileRefOption('secret'))
      .option('config', fileRefOption('config'))
      .option('with-registry-auth', withRegistryAuthOption)
      .example('$0 service create --name web --replicas 3 -p 8080:80 nginx:alpine', '')
      .example("$0 service create --name probe --mode global busybox -- sh -c 'sleep 1d'", '');
  },
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
