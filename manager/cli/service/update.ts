// `fleet service update`: changes a service, then follows the rolling update (or convergence) it causes.
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { constraintAddOption, constraintRmOption } from '../flags/placement.js';
import { envAddOption, envRmOption } from '../flags/env-labels.js';
import { fileRefAddOption, fileRefRmOption } from '../flags/file-refs.js';
import { healthcheckOf, withHealthOptions } from '../flags/health.js';
import { withProgress } from '../flags/output.js';
import { publishAddOption, publishRmOption } from '../flags/publish.js';
import { updateConfigsOf, withUpdateOptions } from '../flags/rollout.js';
import { optionsChangeOf, withServiceOptionUpdates } from '../flags/service-options.js';
import { withStopOptions } from '../flags/stop.js';
import { registryAuthFor, withRegistryAuthOption } from '../flags/registry-auth.js';
import { countOption } from '../flags/values.js';
import { followUpdate, replacesTasks, waitForConvergence } from './follow.js';
import { shellWords } from './task-argv.js';

export const update = defineCommand({
  command: 'update <service>',
  describe: 'Change a service; its tasks are replaced, a few at a time, when the template changes',
  builder: (y) =>
    withServiceOptionUpdates(
      withUpdateOptions(withStopOptions(withHealthOptions(withProgress(withConnection(y))))),
    )
      .positional('service', { type: 'string', demandOption: true })
      .option('replicas', countOption('replicas', 'number of tasks'))
      .option('image', { type: 'string', requiresArg: true, describe: 'new container image' })
      .option('args', {
        type: 'string',
        requiresArg: true,
        describe:
          'new command and arguments, one string split as a shell would ("sh -c \'echo hi\'")',
        coerce: (v: string) => shellWords(v, 'args'),
      })
      .option('entrypoint', {
        type: 'string',
        requiresArg: true,
        describe: 'new entrypoint, split as a shell would; "" returns to the image\'s own',
        coerce: (v: string) => shellWords(v, 'entrypoint'),
      })
      .option('env-add', envAddOption)
      .option('env-rm', envRmOption)
      .option('constraint-add', constraintAddOption)
      .option('constraint-rm', constraintRmOption)
      .option('secret-add', fileRefAddOption('secret'))
      .option('secret-rm', fileRefRmOption('secret'))
      .option('config-add', fileRefAddOption('config'))
      .option('config-rm', fileRefRmOption('config'))
      .option('publish-add', publishAddOption)
      .option('publish-rm', publishRmOption)
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'replace tasks even if nothing changed (a tag is pulled again)',
      })
      .option('with-registry-auth', withRegistryAuthOption),
  handler: async (argv) => {
    const { service } = argv;
    const settings = updateConfigsOf(argv);
    await withClient(argv, async (c) => {
      // What the service was, to tell whether this update replaces tasks and is worth following.
      const before =
        argv.detach && !argv.withRegistryAuth
          ? undefined
          : await c.call('service.inspect', { service });
      const image = argv.image ?? before?.spec.task.image;
      const registryAuth =
        argv.withRegistryAuth && image ? await registryAuthFor(image) : undefined;
      const after = await c.call('service.update', {
        service,
        replicas: argv.replicas,
        image: argv.image,
        command: argv.args,
        entrypoint: argv.entrypoint,
        envAdd: { ...argv.envFile, ...argv.envAdd },
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
        options: optionsChangeOf(argv),
        force: argv.force,
        ...(registryAuth ? { registryAuth } : {}),
        ...settings,
      });
      process.stdout.write(`${service}\n`);
      if (!before || argv.detach) return;
      if (replacesTasks(before, after))
        await followUpdate(c, service, { timeoutMs: argv.timeout, kind: 'update' });
      else await waitForConvergence(c, service, { timeoutMs: argv.timeout });
    });
  },
});
