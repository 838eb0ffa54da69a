// `fleet stack rm NAME…`: removes each stack's services, networks, secrets and configs, and waits for its containers to stop.
import type { TaskView } from '../../../shared/api.js';
import { systemClock } from '../../../shared/clock.js';
import { FleetError } from '../../../shared/errors.js';
import { isTerminal, type TaskState } from '../../../shared/spec.js';
import { defineCommand } from '../command.js';
import { withClient, withConnection } from '../connection.js';
import { withProgress } from '../flags/output.js';
import { formatDuration } from '../format.js';
import type { RpcClient } from '../rpc-client.js';

const POLL_MS = 300;

export const rm = defineCommand({
  command: 'rm <stacks..>',
  aliases: ['remove', 'down'],
  describe: 'Remove stacks: their services, networks, secrets and configs',
  builder: (y) =>
    withProgress(withConnection(y)).positional('stacks', {
      type: 'string',
      array: true,
      demandOption: true,
    }),
  handler: async (argv) => {
    await withClient(argv, async (c) => {
      const removed: string[] = [];
      for (const stack of argv.stacks) {
        const r = await c.call('stack.rm', { stack });
        for (const s of r.services) process.stdout.write(`Removing service ${s}\n`);
        process.stdout.write(`Removed stack ${r.name}\n`);
        removed.push(...r.services);
      }
      if (!argv.detach) await waitUntilStopped(c, new Set(removed), argv.timeout);
    });
  },
});

/** Waits until no task of the removed services may still run on any node. */
async function waitUntilStopped(c: RpcClient, services: Set<string>, timeoutMs: number) {
  const clock = systemClock;
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    const tasks = await c.call('node.ps', {});
    const left = tasks.filter(
      (t: TaskView) => services.has(t.service) && !isTerminal(t.state as TaskState),
    );
    if (left.length === 0) return;
    if (clock.now() >= deadline)
      throw new FleetError(
        'unavailable',
        `${left.length} tasks had not stopped within ${formatDuration(timeoutMs)}; they stop when their nodes come back`,
      );
    await clock.sleep(POLL_MS);
  }
}
