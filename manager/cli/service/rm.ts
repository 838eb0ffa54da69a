// `fleet service rm`: removes services one by one; failures are gathered into one error at the end.
import { FleetError, errorMessage, isFleetError } from '../../../shared/errors.js';
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';

export const rm = defineCommand({
  command: 'rm <services..>',
  aliases: ['remove'],
  describe: 'Remove one or more services',
  builder: (y) =>
    withConnection(y).positional('services', { type: 'string', array: true, demandOption: true }),
  handler: async (argv) => {
    const failures: FleetError[] = [];
    await withClient(argv, async (c) => {
      for (const service of argv.services) {
        try {
          await c.call('service.rm', { service });
          process.stdout.write(`${service}\n`);
        } catch (e) {
          if (!isFleetError(e)) throw e;
          failures.push(e);
        }
      }
    });
    const first = failures[0];
    if (first) throw new FleetError(first.code, failures.map(errorMessage).join('; '));
  },
});
