// How a task stops, on `service create` and `update`: --drain-timeout, --init and --stop-grace-period.
import type { Argv } from 'yargs';
import { durationOption } from './values.js';

export const withStopOptions = <T>(y: Argv<T>) =>
  y
    .option(
      'drain-timeout',
      durationOption(
        'drain-timeout',
        'time a stopping task keeps serving its open connections [default: 10s]',
      ),
    )
    .option('init', {
      type: 'boolean',
      describe:
        'run an init as PID 1 that passes signals on and reaps zombies, so a program without ' +
        'a SIGTERM handler stops at once [default: false]',
    })
    .option(
      'stop-grace-period',
      durationOption(
        'stop-grace-period',
        'time a task gets to stop before it is killed [default: 10s]',
      ),
    );
