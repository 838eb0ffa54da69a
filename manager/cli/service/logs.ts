// `fleet service logs`: the lines of every task of a service (or of one task), merged by time, like docker service logs.
import { defineCommand } from '../command.js';
import { runLogs, withLogFlags } from '../logs/logs-command.js';

export const logs = defineCommand({
  command: 'logs <target>',
  describe: 'Show the logs of a service or a task',
  builder: (y) =>
    withLogFlags(y)
      .positional('target', {
        type: 'string',
        demandOption: true,
        describe: 'service name or id, or a task id',
      })
      .option('task-ids', {
        type: 'boolean',
        default: true,
        describe: 'show task ids in the prefixes (--no-task-ids: web.2@node-3 only)',
      })
      .option('task', { type: 'boolean', default: false, describe: 'the target is a task id' }),
  handler: async (argv) => {
    const kind = argv.task ? 'task' : 'service';
    await runLogs(argv, { kind, ref: argv.target });
  },
});
