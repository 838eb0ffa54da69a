// `fleet service ps`: a service's tasks, current and past.
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { withFormat } from '../flags/output.js';
import { printJson, printTasks } from '../format.js';

export const ps = defineCommand({
  command: 'ps <service>',
  describe: "List a service's tasks, current and past",
  builder: (y) =>
    withFormat(withConnection(y)).positional('service', {
      type: 'string',
      demandOption: true,
      describe: 'service name or id',
    }),
  handler: async (argv) => {
    const tasks = await withClient(argv, (c) => c.call('service.ps', { service: argv.service }));
    if (argv.format === 'json') printJson(tasks);
    else printTasks(tasks);
  },
});
