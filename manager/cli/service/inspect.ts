// `fleet service inspect`: a service's full record as JSON, or with --pretty a readable summary.
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { withFormat } from '../flags/output.js';
import { printJson, renderServiceDetail } from '../format.js';

export const inspect = defineCommand({
  command: 'inspect <service>',
  describe: 'Show a service, its full spec and its ingress traffic, as JSON (or --pretty)',
  builder: (y) =>
    withFormat(withConnection(y))
      .positional('service', { type: 'string', demandOption: true })
      .option('pretty', {
        type: 'boolean',
        default: false,
        describe: 'a readable summary instead of JSON: ports, tasks serving them, traffic',
      }),
  handler: async (argv) => {
    // JSON unless asked otherwise: scripts read this output.
    if (!argv.pretty) {
      printJson(
        await withClient(argv, (c) => c.call('service.inspect', { service: argv.service })),
      );
      return;
    }
    const [detail, tasks] = await withClient(argv, async (c) => {
      const d = await c.call('service.inspect', { service: argv.service });
      const ts = await c.call('service.ps', { service: d.id, all: false });
      return [d, ts] as const;
    });
    process.stdout.write(renderServiceDetail(detail, tasks));
  },
});
