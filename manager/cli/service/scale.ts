// `fleet service scale SERVICE=REPLICAS…`: sets replica counts, then follows each service until it converges.
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { withProgress } from '../flags/output.js';
import { UsageError } from '../usage.js';
import { waitForConvergence } from './follow.js';

export const scale = defineCommand({
  command: 'scale <scales..>',
  describe: 'Set the number of replicas of one or more services (SERVICE=REPLICAS)',
  builder: (y) =>
    withProgress(withConnection(y))
      .positional('scales', {
        type: 'string',
        array: true,
        demandOption: true,
        coerce: (v: string[]) => v.map(parseScale),
      })
      .example('$0 service scale web=5 worker=2', ''),
  handler: async (argv) => {
    await withClient(argv, async (c) => {
      for (const { service, replicas } of argv.scales) {
        await c.call('service.update', { service, replicas });
        process.stdout.write(`${service} scaled to ${replicas}\n`);
      }
      if (argv.detach) return;
      for (const { service } of argv.scales) {
        await waitForConvergence(c, service, { timeoutMs: argv.timeout });
      }
    });
  },
});

/** "web=3" -> { service: "web", replicas: 3 }. */
export function parseScale(text: string): { service: string; replicas: number } {
  const m = /^([^=\s]+)=(\d+)$/.exec(text.trim());
  if (!m || !m[1] || !m[2]) {
    throw new UsageError(`Invalid argument ${JSON.stringify(text)} (expected SERVICE=REPLICAS)`);
  }
  return { service: m[1], replicas: Number(m[2]) };
}
