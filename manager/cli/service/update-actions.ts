// `fleet service rollback` and `promote`: act on a service's update, then follow it unless --detach.
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { withProgress } from '../flags/output.js';
import { followUpdate } from './follow.js';

export const rollback = updateActionCommand(
  'rollback',
  'Return a service to its spec before the last update',
  'rollback',
);

export const promote = updateActionCommand(
  'promote',
  "Let an update go on past its canaries to the service's other tasks",
  'update',
);

/** `kind` is what the followed update ends as when the action succeeds. */
function updateActionCommand(
  name: 'rollback' | 'promote',
  describe: string,
  kind: 'update' | 'rollback',
) {
  return defineCommand({
    command: `${name} <service>`,
    describe,
    builder: (y) =>
      withProgress(withConnection(y)).positional('service', { type: 'string', demandOption: true }),
    handler: async (argv) => {
      const { service } = argv;
      await withClient(argv, async (c) => {
        await c.call(`service.${name}`, { service });
        process.stdout.write(`${service}\n`);
        if (argv.detach) return;
        await followUpdate(c, service, { timeoutMs: argv.timeout, kind });
      });
    },
  });
}
