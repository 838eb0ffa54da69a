// The standalone agent program (bundled into one file for boards): `fleet-agent start ...`, `fleet-agent board setup ...`.
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { boardCommand } from './board/command.js';
import { agentCommand } from './cli.js';
import { bundleCommand } from './bundle/command.js';
import { FLEET_VERSION } from '../shared/version.js';

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('fleet-agent')
    .command(agentCommand)
    .command(boardCommand)
    .command(bundleCommand)
    // `fleet-agent start ...` as well as `fleet-agent agent start ...`.
    .command({ ...agentCommand, command: '$0 <action>', describe: false })
    .strict()
    .demandCommand(1)
    .version(FLEET_VERSION)
    .help()
    .fail((msg, err) => {
      process.stderr.write(`Error: ${err ? err.message : msg}\n`);
      process.exit(msg ? 2 : 1);
    })
    .parseAsync();
}

main().catch((e: unknown) => {
  process.stderr.write(`Error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
