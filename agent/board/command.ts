// `fleet-agent board setup`: the command a oneshot unit runs at every boot to apply fleet.json's system settings.
import type { Argv, CommandModule } from 'yargs';
import { holdProcessOpen, systemClock } from '../../shared/clock.js';
import { runTool } from './run-tool.js';

interface BoardArgs {
  action: string;
  config: string;
  root: string;
}

export const boardCommand: CommandModule<object, BoardArgs> = {
  command: 'board <action>',
  describe:
    "apply a flashed board's settings from fleet.json: grow the root partition, hostname, SSH, Wi-Fi, time zone",
  builder: (y: Argv) =>
    y
      .positional('action', {
        choices: ['setup'],
        describe: 'what to do',
        demandOption: true,
        type: 'string',
      })
      .option('config', {
        type: 'string',
        demandOption: true,
        describe: 'the settings file (fleet.json on the boot partition); missing: nothing to do',
      })
      .option('root', {
        type: 'string',
        default: '/',
        describe: 'the system to set up; only / touches the running system (host name, disk)',
      }),
  handler: async (argv) => {
    const { runBoardSetup } = await import('./setup.js');
    // The clock's timers do not hold the process open, and a step may wait on one.
    const release = holdProcessOpen();
    const result = await runBoardSetup({
      config: argv.config,
      root: argv.root,
      run: runTool,
      clock: systemClock,
      log: (line) => process.stdout.write(`board setup: ${line}\n`),
    }).finally(release);
    if (result.failed.length > 0) process.exitCode = 1;
  },
};
