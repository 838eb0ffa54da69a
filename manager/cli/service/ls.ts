// `fleet service ls`: one line per service, or JSON.
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { withFormat } from '../flags/output.js';
import { printJson, printServices } from '../format.js';

export const ls = defineCommand({
  command: 'ls',
  aliases: ['list'],
  describe: 'List services',
  builder: (y) => withFormat(withConnection(y)),
  handler: async (argv) => {
    const services = await withClient(argv, (c) => c.call('service.ls', {}));
    if (argv.format === 'json') printJson(services);
    else printServices(services);
  },
});
