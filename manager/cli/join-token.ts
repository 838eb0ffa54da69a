// `fleet join-token worker|manager`: prints (or rotates) the token a board needs to join the fleet.
import { defineCommand } from './command.js';
import { withClient, withConnection } from './connection.js';
import type { RpcClient } from './rpc-client.js';

export const joinTokenCommand = defineCommand({
  command: 'join-token <role>',
  describe: 'Print the command that joins a board to the fleet',
  builder: (y) =>
    withConnection(y)
      .positional('role', {
        choices: ['worker', 'manager'] as const,
        demandOption: true,
        describe: 'the role the new board takes',
      })
      .option('rotate', {
        type: 'boolean',
        default: false,
        describe: 'replace the token; the old one stops working, joined boards are unaffected',
      })
      .option('quiet', {
        alias: 'q',
        type: 'boolean',
        default: false,
        describe: 'print only the token',
      }),
  handler: async (argv) => {
    const { role, rotate } = argv;
    const text = await withClient(argv, async (c) => {
      const { token } = await c.call('jointoken.get', { role, rotate });
      if (argv.quiet) return `${token}\n`;
      const rotated = rotate ? `Successfully rotated ${role} join token.\n\n` : '';
      return rotated + joinInstructions(role, await managerAddress(c), token);
    });
    process.stdout.write(text);
  },
});

/** What to run on the new board: an agent for a worker, a manager joining the Raft group for a manager. */
export function joinInstructions(
  role: 'worker' | 'manager',
  manager: string,
  token: string,
): string {
  const command =
    role === 'manager'
      ? `fleet manager start --join ${manager} --token ${token} --data-dir DIR --listen IP:4883`
      : `fleet agent start --manager ${manager} --token ${token} --data-dir DIR --advertise-addr IP`;
  return `To add a ${role} to this fleet, run:\n\n  ${command}\n`;
}

const LOOPBACK = /^(127\.|localhost:|\[::1\]:)/;

/**
 * The address boards should dial: the one this CLI reached, unless that is loopback; then a
 * ready manager's advertised address with the same port.
 */
async function managerAddress(c: RpcClient): Promise<string> {
  if (!LOOPBACK.test(c.host)) return c.host;
  const port = /:(\d+)$/.exec(c.host)?.[1] ?? '';
  const nodes = await c.call('node.ls', {});
  const manager = nodes.find((n) => n.role === 'manager' && n.status === 'ready' && n.address);
  if (!manager || LOOPBACK.test(manager.address + ':')) return c.host;
  return /:\d+$/.test(manager.address) ? manager.address : `${manager.address}:${port}`;
}
