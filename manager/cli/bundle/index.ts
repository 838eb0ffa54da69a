// `fleet bundle create`: a signed file of an agent release, services and images for boards with no network.
import { promises as fs } from 'node:fs';
import { MAX_BUNDLE_LIFETIME_MS } from '../../../shared/api-bundles.js';
import { parseDuration } from '../../../shared/spec.js';
import { commandGroup, defineCommand, listed } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { UsageError } from '../usage.js';

const DAY_MS = 86_400_000;

const createCommand = defineCommand({
  command: 'create',
  describe: 'Write a bundle signed by the cluster, for boards to apply with no manager reachable',
  builder: (y) =>
    withConnection(y)
      .option('out', { type: 'string', demandOption: true, describe: 'the file to write' })
      .option('agent', { type: 'string', describe: 'a stored agent release to upgrade to' })
      .option('service', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: 'a service to carry, as the cluster stores it',
      })
      .option('stack', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: 'a stack whose services to carry',
      })
      .option('image', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: 'an image of the local engine to carry (docker save)',
      })
      .option('node', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: 'a node id or name the bundle is for',
      })
      .option('label', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: 'k=v: the bundle is for nodes with every such label',
      })
      .option('expires', {
        type: 'string',
        default: '30d',
        describe: 'how long boards accept the bundle: 12h, 30d',
      })
      .example(
        '$0 bundle create --out fleet-bundle-1.fleet --service web --image web:2 --label site=north',
        'the web service and its image for every board labelled site=north',
      ),
  handler: async (argv) => {
    const expiresInMs = parseLifetime(argv.expires);
    const labels: Record<string, string> = {};
    for (const l of argv.label) {
      const i = l.indexOf('=');
      if (i <= 0) throw new UsageError(`--label must be k=v, got "${l}"`);
      labels[l.slice(0, i)] = l.slice(i + 1);
    }
    const { createBundle, describeBundle } = await import('./create.js');
    await withClient(argv, async (c) => {
      const signed = await createBundle(c, {
        out: argv.out,
        ...(argv.agent !== undefined ? { agent: argv.agent } : {}),
        services: argv.service,
        stacks: argv.stack,
        images: argv.image,
        nodes: argv.node,
        labels,
        expiresInMs,
      });
      const { size } = await fs.stat(argv.out);
      process.stdout.write(describeBundle(argv.out, signed, size));
    });
  },
});

/** `30d`, `12h`, `90m`: a lifetime of at most a year. */
function parseLifetime(text: string): number {
  const days = /^(\d+)d$/.exec(text.trim());
  const ms = days ? Number(days[1]) * DAY_MS : parseDuration(text);
  if (ms === null || ms <= 0 || ms > MAX_BUNDLE_LIFETIME_MS)
    throw new UsageError(
      `--expires must be a duration such as 12h or 30d (at most 366d), got "${text}"`,
    );
  return ms;
}

export const bundleCommand = commandGroup(
  'bundle',
  'Make signed offline bundles for boards with no network',
  [listed(createCommand)],
);
