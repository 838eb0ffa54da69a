// `fleet agent release push|ls|rm`: signed agent bundles the managers keep for boards to install.
import type { ReleaseView } from '../../../shared/api.js';
import { commandGroup, defineCommand, listed } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { formatBytes, relativeTime } from '../format.js';
import type { Listing } from '../format/listing.js';
import { listCommand } from '../list-command.js';

const releaseListing: Listing<ReleaseView> = {
  columns: [
    { header: 'VERSION', field: 'Version' },
    { header: 'SHA256', field: 'Sha256' },
    { header: 'SIZE', field: 'Size' },
    { header: 'NODE MIN', field: 'NodeMin' },
    { header: 'CREATED', field: 'CreatedAt' },
    { header: 'NODES', field: 'Nodes' },
  ],
  extraFields: ['Protocol', 'Signature'],
  rows: (items, { noTrunc }) =>
    items.map((r) => ({
      Version: r.version,
      Sha256: noTrunc ? r.sha256 : r.sha256.slice(0, 12),
      Size: formatBytes(r.size),
      NodeMin: r.nodeMin,
      CreatedAt: relativeTime(r.createdAt),
      Nodes: r.nodes.length > 0 ? r.nodes.join(',') : '-',
      Protocol: r.protocolVersion === null ? '' : String(r.protocolVersion),
      Signature: r.signature,
    })),
  filters: {
    version: (r, v) => r.version.startsWith(v),
  },
};

const pushCommand = defineCommand({
  command: 'push <file>',
  describe:
    'Upload an agent bundle (node bin/bundle-agent.js) to the managers and record it, signed',
  builder: (y) =>
    // --version names the release here, not fleet's own version.
    withConnection(y.version(false))
      .positional('file', { type: 'string', demandOption: true, describe: 'the bundle' })
      .option('version', {
        type: 'string',
        describe: "the release's version (default: the bundle's own version line)",
      })
      .option('node-min', {
        type: 'string',
        default: '20.0.0',
        describe: 'the oldest Node.js a board may run the release on',
      })
      .option('quiet', {
        alias: 'q',
        type: 'boolean',
        default: false,
        describe: 'no progress line',
      })
      .example('$0 agent release push dist/fleet-agent.mjs', 'the version its first lines name'),
  handler: async (argv) => {
    const { pushRelease, readBundleFacts } = await import('./push.js');
    // A file that is no bundle is refused before any manager is asked.
    const facts = await readBundleFacts(argv.file, argv.version);
    await withClient(argv, (c) =>
      pushRelease(c, facts, { file: argv.file, nodeMin: argv['node-min'], quiet: argv.quiet }),
    );
  },
});

const rmCommand = defineCommand({
  command: 'rm <versions..>',
  aliases: ['remove'],
  describe: 'Remove agent releases; refused while a node runs one',
  builder: (y) =>
    withConnection(y)
      .positional('versions', { type: 'string', array: true, demandOption: true })
      .option('force', {
        alias: 'f',
        type: 'boolean',
        default: false,
        describe: 'remove even while nodes run it',
      }),
  handler: async (argv) => {
    await withClient(argv, async (c) => {
      for (const version of argv.versions) {
        const r = await c.call('release.rm', { version, force: argv.force });
        process.stdout.write(`Deleted: ${r.version}\n`);
      }
    });
  },
});

export const agentReleaseCommand = commandGroup(
  'release',
  'Manage signed agent releases the managers keep for boards',
  [
    listed(pushCommand),
    listed(
      listCommand(
        'List agent releases, newest first',
        (c) => c.call('release.ls', {}),
        releaseListing,
      ),
    ),
    listed(rmCommand),
  ],
  'agent release',
);
