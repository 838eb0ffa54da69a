// `fleet-agent bundle apply FILE`: the board's command for a signed offline bundle (from a laptop, a USB stick or a script).
import type { Argv, CommandModule } from 'yargs';

interface BundleArgs {
  action: string;
  file: string;
  'data-dir': string;
  runtime: 'docker' | 'process';
  'docker-host'?: string;
}

export const bundleCommand: CommandModule<object, BundleArgs> = {
  command: 'bundle <action> <file>',
  describe: 'apply a signed offline bundle: images, agent release and services, with no manager',
  builder: (y: Argv) =>
    y
      .positional('action', {
        choices: ['apply'],
        describe: 'what to do',
        demandOption: true,
        type: 'string',
      })
      .positional('file', { type: 'string', demandOption: true, describe: 'the bundle file' })
      .option('data-dir', {
        type: 'string',
        default: './fleet-data/agent',
        describe: "the agent's data dir (its identity says which cluster it trusts)",
      })
      .option('runtime', {
        choices: ['docker', 'process'] as const,
        default: 'docker' as const,
        describe: "the agent's runtime: the process runtime loads no images",
      })
      .option('docker-host', {
        type: 'string',
        describe:
          'the Docker engine to load images into (default: DOCKER_HOST, else the local socket)',
      }),
  handler: async (argv) => {
    const { runApply } = await import('./apply-cli.js');
    process.exitCode = await runApply({
      file: argv.file,
      dataDir: argv['data-dir'],
      runtime: argv.runtime,
      ...(argv['docker-host'] !== undefined ? { dockerHost: argv['docker-host'] } : {}),
    });
  },
};
