// `fleet image push|ls|inspect|rm`: images the cluster stores and serves to its boards itself, no registry needed.
import type { ImageView } from '../../../shared/api.js';
import { commandGroup, defineCommand, listed } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { withFormat } from '../flags/output.js';
import { formatBytes, printJson, relativeTime, shortId } from '../format.js';
import { idMatches, type Listing } from '../format/listing.js';
import { listCommand } from '../list-command.js';
import { pushImages } from './push.js';

const imageListing: Listing<ImageView> = {
  columns: [
    { header: 'NAME', field: 'Name' },
    { header: 'IMAGE ID', field: 'ID' },
    { header: 'SIZE', field: 'Size' },
    { header: 'PLATFORMS', field: 'Platforms' },
    { header: 'NODES', field: 'Nodes' },
    { header: 'CREATED', field: 'CreatedAt' },
  ],
  extraFields: ['Digest'],
  rows: (items, { noTrunc }) =>
    items.map((i) => ({
      Name: i.name,
      ID: noTrunc ? i.digest : shortId(i.digest.replace(/^sha256:/, '')),
      Size: formatBytes(i.size),
      Platforms: i.platforms.join(','),
      Nodes: nodesColumn(i),
      CreatedAt: relativeTime(i.createdAt),
      Digest: i.digest,
    })),
  filters: {
    id: (i, v) => idMatches(i.digest.replace(/^sha256:/, ''), v.replace(/^sha256:/, '')),
    name: (i, v) => i.name.startsWith(v),
  },
};

/** "node-1,node-2 (node-3 41%)": loaded copies, then downloads under way or failed. */
function nodesColumn(i: ImageView): string {
  const loaded = i.nodes.filter((n) => n.state === 'loaded').map((n) => n.node);
  const other = i.nodes
    .filter((n) => n.state !== 'loaded')
    .map((n) =>
      n.state === 'failed'
        ? `${n.node} failed`
        : `${n.node} ${n.total > 0 ? Math.floor((100 * n.bytes) / n.total) : 0}%`,
    );
  const text = [loaded.join(','), other.length > 0 ? `(${other.join(', ')})` : '']
    .filter(Boolean)
    .join(' ');
  return text || '-';
}

const pushCommand = defineCommand({
  command: 'push [images..]',
  describe:
    "Upload images from the local Docker engine (or a docker save / OCI tarball) to the fleet's managers",
  builder: (y) =>
    withConnection(y)
      .positional('images', { type: 'string', array: true, default: [] as string[] })
      .option('file', {
        type: 'string',
        array: true,
        default: [] as string[],
        describe: 'a `docker save` or OCI layout tarball (repeatable) instead of the engine',
      })
      .option('quiet', {
        alias: 'q',
        type: 'boolean',
        default: false,
        describe: 'no progress lines',
      })
      .check((a) => {
        if (a.images.length === 0 && a.file.length === 0) {
          throw new Error('name at least one image, or a tarball with --file');
        }
        return true;
      })
      .example('$0 image push myapp:1.2', 'from the engine DOCKER_HOST names (or the local one)')
      .example('$0 image push --file myapp.tar', 'a docker save or buildx OCI tarball'),
  handler: async (argv) => {
    await withClient(argv, (c) =>
      pushImages(c, { images: argv.images, files: argv.file, quiet: argv.quiet }),
    );
  },
});

const inspectCommand = defineCommand({
  command: 'inspect <images..>',
  describe: 'Show images as JSON: platforms, layers, where they are loaded',
  builder: (y) =>
    withFormat(withConnection(y)).positional('images', {
      type: 'string',
      array: true,
      demandOption: true,
    }),
  handler: async (argv) => {
    const views = await withClient(argv, async (c) => {
      const out = [];
      for (const image of argv.images) out.push(await c.call('image.inspect', { image }));
      return out;
    });
    printJson(views);
  },
});

const rmCommand = defineCommand({
  command: 'rm <images..>',
  aliases: ['remove'],
  describe: 'Remove images from the fleet; refused while a service uses one',
  builder: (y) =>
    withConnection(y)
      .positional('images', { type: 'string', array: true, demandOption: true })
      .option('force', {
        alias: 'f',
        type: 'boolean',
        default: false,
        describe: 'remove even while services use it (their new tasks then need a registry)',
      }),
  handler: async (argv) => {
    await withClient(argv, async (c) => {
      for (const image of argv.images) {
        const r = await c.call('image.rm', { image, force: argv.force });
        process.stdout.write(`Deleted: ${r.name}\n`);
      }
    });
  },
});

export const imageCommand = commandGroup('image', 'Manage images the fleet serves to its boards', [
  listed(pushCommand),
  listed(
    listCommand('List images stored in the fleet', (c) => c.call('image.ls', {}), imageListing),
  ),
  listed(inspectCommand),
  listed(rmCommand),
]);
