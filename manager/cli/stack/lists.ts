// `fleet stack ls`, `stack services NAME` and `stack ps NAME`: listings like Docker's, with --filter, --quiet and --format.
import type { StackView } from '../../../shared/api.js';
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { listOptionsOf, withListOptions } from '../flags/output.js';
import { prepareListing, type Listing } from '../format/listing.js';
import { serviceListing, taskListing } from '../format/service-listing.js';
import { listCommand } from '../list-command.js';
import type { RpcClient } from '../rpc-client.js';

const stackListing: Listing<StackView> = {
  columns: [
    { header: 'NAME', field: 'Name' },
    { header: 'SERVICES', field: 'Services' },
  ],
  extraFields: ['CreatedAt', 'UpdatedAt'],
  rows: (items) =>
    items.map((s) => ({
      Name: s.name,
      Services: String(s.services),
      CreatedAt: s.createdAt,
      UpdatedAt: s.updatedAt,
    })),
  filters: { name: (s, v) => s.name.startsWith(v) },
};

export const ls = listCommand('List stacks', (c) => c.call('stack.ls', {}), stackListing);

/** A listing of one stack's items: `stack services` and `stack ps`. */
function stackList<T>(
  command: string,
  describe: string,
  listing: Listing<T>,
  fetch: (c: RpcClient, stack: string) => Promise<T[]>,
) {
  const keys = Object.keys(listing.filters).join(', ');
  return defineCommand({
    command: `${command} <stack>`,
    describe,
    builder: (y) =>
      withListOptions(withConnection(y))
        .positional('stack', { type: 'string', demandOption: true })
        .epilogue(`Filters: --filter KEY=VALUE, KEY one of ${keys}`),
    handler: async (argv) => {
      const prepared = prepareListing(listing, listOptionsOf(argv));
      const items = await withClient(argv, (c) => fetch(c, argv.stack));
      process.stdout.write(prepared.render(items));
    },
  });
}

export const services = stackList(
  'services',
  'List the services of a stack',
  serviceListing,
  (c, stack) => c.call('stack.services', { stack }),
);

export const ps = stackList(
  'ps',
  'List the tasks of a stack (a task waiting for a dependency says which)',
  taskListing,
  (c, stack) => c.call('stack.ps', { stack }),
);
