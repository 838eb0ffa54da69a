// The restart policy of a task that exits: --restart-condition, -delay, -max-attempts and -window.
import type { Argv } from 'yargs';
import { countOption, durationOption } from './values.js';

export const withRestartOptions = <T>(y: Argv<T>) =>
  y
    .option('restart-condition', {
      choices: ['none', 'on-failure', 'any'] as const,
      describe: 'when to restart a task that exits [default: any]',
    })
    .option(
      'restart-delay',
      durationOption('restart-delay', 'wait between restarts, e.g. 5s [default: 5s]'),
    )
    .option(
      'restart-max-attempts',
      countOption(
        'restart-max-attempts',
        'give up after this many restarts within the window [default: no limit]',
      ),
    )
    .option(
      'restart-window',
      durationOption(
        'restart-window',
        'window over which restarts are counted, e.g. 1m [default: unbounded]',
      ),
    );
