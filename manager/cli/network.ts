// `fleet network create|ls|inspect|rm`: cluster networks, on which services find each other by name.
import type { NetworkView } from '../../shared/api.js';
import { commandGroup, defineCommand, listed } from './command.js';
import { withClient, withConnection } from './connection.js';
import { labelOption } from './flags/env-labels.js';
import { withFormat } from './flags/output.js';
import { listCommand } from './list-command.js';
import { printJson, relativeTime, shortId } from './format.js';
import { idMatches, labelMatches, type Listing } from './format/listing.js';

const networkListing: Listing<NetworkView> = {
  columns: [
    { header: 'NETWORK ID', field: 'ID' },
    { header: 'NAME', field: 'Name' },
    { header: 'DRIVER', field: 'Driver' },
    { header: 'SCOPE', field: 'Scope' },
    { header: 'STACK', field: 'Stack' },
    { header: 'SERVICES', field: 'Services' },
  ],
  extraFields: ['Labels', 'Internal', 'Attachable', 'CreatedAt'],
  rows: (items, { noTrunc }) =>
    items.map((n) => ({
      ID: noTrunc ? n.id : shortId(n.id),
      Name: n.name,
      Driver: n.driver,
      Scope: n.scope,
      Stack: n.stack ?? '',
      Services: n.services.join(','),
      Labels: n.labels,
      Internal: String(n.internal),
      Attachable: String(n.attachable),
      CreatedAt: relativeTime(n.createdAt),
    })),
  filters: {
    id: (n, v) => idMatches(n.id, v),
    name: (n, v) => n.name.startsWith(v),
    label: (n, v) => labelMatches(n.labels, v),
    driver: (n, v) => n.driver === v,
    scope: (n, v) => n.scope === v,
  },
};

const createCommand = defineCommand({
  command: 'create <name>',
  describe: 'Create a network services join with --network and reach each other by name on',
  builder: (y) =>
    withConnection(y)
      .positional('name', { type: 'string', demandOption: true })
      .option('internal', {
        type: 'boolean',
        default: false,
        describe: 'no route out of the node: tasks reach only each other',
      })
      .option('attachable', {
        type: 'boolean',
        default: true,
        describe: 'services of any stack may join it',
      })
      .option('driver', {
        alias: 'd',
        choices: ['bridge', 'overlay'] as const,
        default: 'overlay' as const,
        describe: 'accepted for Docker compatibility: every fleet network spans the cluster',
      })
      .option('label', labelOption('label KEY=VALUE, repeatable'))
      .example('$0 network create backend', '')
      .example('$0 service create --name db --network backend redis', ''),
  handler: async (argv) => {
    const created = await withClient(argv, (c) =>
      c.call('network.create', {
        name: argv.name,
        internal: argv.internal,
        attachable: argv.attachable,
        labels: argv.label,
      }),
    );
    process.stdout.write(`${created.id}\n`);
  },
});

const inspectCommand = defineCommand({
  command: 'inspect <name>',
  describe: 'Show a network as JSON',
  builder: (y) =>
    withFormat(withConnection(y)).positional('name', { type: 'string', demandOption: true }),
  handler: async (argv) => {
    printJson(await withClient(argv, (c) => c.call('network.inspect', { network: argv.name })));
  },
});

const rmCommand = defineCommand({
  command: 'rm <names..>',
  aliases: ['remove'],
  describe: "Remove networks; refused while a service uses one, and for a stack's own",
  builder: (y) =>
    withConnection(y).positional('names', { type: 'string', array: true, demandOption: true }),
  handler: async (argv) => {
    await withClient(argv, async (c) => {
      for (const name of argv.names) {
        await c.call('network.rm', { network: name });
        process.stdout.write(`${name}\n`);
      }
    });
  },
});

export const networkCommand = commandGroup('network', 'Manage networks', [
  listed(createCommand),
  listed(listCommand('List networks', (c) => c.call('network.ls', {}), networkListing)),
  listed(inspectCommand),
  listed(rmCommand),
]);
