// `fleet node logs`: the agent's own log on a node (the lines it keeps in memory), like docker logs of the agent.
import { defineCommand } from '../command.js';
import { runLogs, withLogFlags } from './logs-command.js';

export const nodeLogs = defineCommand({
  command: 'logs <node>',
  describe: "Show the agent's own log on a node",
  builder: (y) =>
    withLogFlags(y).positional('node', {
      type: 'string',
      demandOption: true,
      describe: 'node name or id',
    }),
  handler: async (argv) => {
    await runLogs(argv, { kind: 'node', ref: argv.node });
  },
});
