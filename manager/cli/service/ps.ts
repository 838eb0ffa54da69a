// `fleet service ps`: the tasks of one or more services, current and past.
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { listOptionsOf, withListOptions } from '../flags/output.js';
import { prepareListing } from '../format/listing.js';
import { taskListing, taskStatsListing } from '../format/service-listing.js';

const filterKeys = Object.keys(taskListing.filters).join(', ');

export const ps = defineCommand({
  command: 'ps <service..>',
  describe: 'List the tasks of one or more services, current and past',
  builder: (y) =>
    withListOptions(withConnection(y))
      .positional('service', {
        type: 'string',
        array: true,
        demandOption: true,
        describe: 'service names or ids',
      })
      .option('stats', {
        type: 'boolean',
        default: false,
        describe: 'add CPU (100% is one core) and MEM as the nodes last reported them',
      })
      .epilogue(`Filters: --filter KEY=VALUE, KEY one of ${filterKeys}`),
  handler: async (argv) => {
    const listing = argv.stats ? taskStatsListing : taskListing;
    const prepared = prepareListing(listing, listOptionsOf(argv));
    const tasks = await withClient(argv, async (c) => {
      const all = [];
      for (const service of argv.service) all.push(...(await c.call('service.ps', { service })));
      return all;
    });
    process.stdout.write(prepared.render(tasks));
  },
});
