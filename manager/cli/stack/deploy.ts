// `fleet stack deploy -c FILE NAME`: resolves the Compose files, deploys the whole stack at once, then follows each service.
import type { StackDeployResult } from '../../../shared/stack.js';
import { invalidArgument } from '../../../shared/errors.js';
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { withProgress } from '../flags/output.js';
import { registryAuthFor, withRegistryAuthOption } from '../flags/registry-auth.js';
import { parseImageReference } from '../../../shared/image-ref.js';
import { waitForConvergence } from '../service/follow.js';
import { composeFileOption, ignoreUnsupportedOption, loadComposeFiles } from './files.js';

export const deploy = defineCommand({
  command: 'deploy <stack>',
  aliases: ['up'],
  describe: 'Deploy a new stack or update one from Compose files',
  builder: (y) =>
    withProgress(withConnection(y))
      .positional('stack', { type: 'string', demandOption: true, describe: 'stack name' })
      .option('compose-file', composeFileOption)
      .option('prune', {
        type: 'boolean',
        default: false,
        describe: 'remove services of the stack that are no longer in the files',
      })
      .option('ignore-unsupported', ignoreUnsupportedOption)
      .option('with-registry-auth', withRegistryAuthOption)
      .example('$0 stack deploy -c docker-compose.yml myapp', '')
      .example('$0 stack deploy -c base.yml -c prod.yml myapp', ''),
  handler: async (argv) => {
    const files = (argv.composeFile ?? []).map((f) => (f === '' ? '-' : f));
    const loaded = await loadComposeFiles(argv.stack, files, argv.ignoreUnsupported);
    for (const w of loaded.warnings) process.stderr.write(`warning: ${w}\n`);
    const { plan } = loaded;
    const registryAuth = argv.withRegistryAuth ? await stackRegistryAuth(plan) : undefined;
    await withClient(argv, async (c) => {
      const result = await c.call('stack.deploy', {
        plan,
        prune: argv.prune,
        ...(registryAuth ? { registryAuth } : {}),
      });
      printResult(result);
      if (argv.detach) return;
      for (const name of [...result.created, ...result.updated])
        await waitForConvergence(c, name, { timeoutMs: argv.timeout });
    });
  },
});

/** One set of credentials travels with a deploy: the images must share their registry. */
async function stackRegistryAuth(plan: { services: { task: { image: string } }[] }) {
  const images = plan.services.map((s) => s.task.image);
  const registries = new Set(images.map((i) => parseImageReference(i).registry));
  if (registries.size > 1)
    throw invalidArgument(
      `--with-registry-auth sends one registry's credentials; the images come from ${[...registries].join(', ')}`,
    );
  const first = images[0];
  return first ? await registryAuthFor(first) : undefined;
}

function printResult(r: StackDeployResult): void {
  const lines = [
    ...r.networksCreated.map((n) => `Creating network ${n}`),
    ...r.secretsCreated.map((n) => `Creating secret ${n}`),
    ...r.configsCreated.map((n) => `Creating config ${n}`),
    ...r.created.map((n) => `Creating service ${n}`),
    ...r.updated.map((n) => `Updating service ${n}`),
    ...r.unchanged.map((n) => `Service ${n} is unchanged`),
    ...r.removed.map((n) => `Removing service ${n}`),
    ...r.kept.map((n) => `Service ${n} is no longer in the file; kept (--prune removes it)`),
  ];
  process.stdout.write(lines.map((l) => `${l}\n`).join(''));
}
