// The shape of every `ls` command: fetch a list from a manager, print it as a table or, with --format json, as JSON.
import { defineCommand } from './command.js';
import { withClient, withConnection } from './connection.js';
import { withFormat } from './flags/output.js';
import { printJson } from './format.js';
import type { RpcClient } from './rpc-client.js';

export function listCommand<T>(
  describe: string,
  fetch: (client: RpcClient) => Promise<T>,
  printTable: (items: T) => void,
) {
  return defineCommand({
    command: 'ls',
    aliases: ['list'],
    describe,
    builder: (y) => withFormat(withConnection(y)),
    handler: async (argv) => {
      const items = await withClient(argv, fetch);
      if (argv.format === 'json') printJson(items);
      else printTable(items);
    },
  });
}
