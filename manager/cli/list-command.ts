// The shape of every `ls` command: check --filter/--format, fetch a list from a manager, print what matches.
import { defineCommand } from './command.js';
import { withClient, withConnection } from './connection.js';
import { listOptionsOf, withListOptions } from './flags/output.js';
import { prepareListing, type Listing } from './format/listing.js';
import type { RpcClient } from './rpc-client.js';

export function listCommand<T>(
  describe: string,
  fetch: (client: RpcClient) => Promise<T[]>,
  listing: Listing<T>,
) {
  const keys = Object.keys(listing.filters).join(', ');
  return defineCommand({
    command: 'ls',
    aliases: ['list'],
    describe,
    builder: (y) =>
      withListOptions(withConnection(y)).epilogue(
        `Filters: --filter KEY=VALUE, KEY one of ${keys}`,
      ),
    handler: async (argv) => {
      const prepared = prepareListing(listing, listOptionsOf(argv));
      const items = await withClient(argv, fetch);
      process.stdout.write(prepared.render(items));
    },
  });
}
