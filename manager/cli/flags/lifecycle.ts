// A task's lifecycle on `service create` and `update`: its health check, init, drain and stop.
import type { Argv } from 'yargs';
import type { Healthcheck } from '../../../shared/spec.js';
import { UsageError } from '../usage.js';
import { countOption, durationOption } from './values.js';

/** Adds --health-*, --no-healthcheck, --drain-timeout and --stop-grace-period. */
export const withLifecycleOptions = <T>(y: Argv<T>) =>
  y
    .option('health-cmd', {
      type: 'string',
      requiresArg: true,
      describe: 'command run inside the task to check its health (exit 0 = healthy), via sh -c',
    })
    .option(
      'health-interval',
      durationOption(
        'health-interval',
        "time between checks, e.g. 5s [default: the image's, else 30s]",
      ),
    )
    .option(
      'health-timeout',
      durationOption('health-timeout', 'a check taking longer fails [default: 30s]'),
    )
    .option(
      'health-retries',
      countOption(
        'health-retries',
        'failed checks in a row before the task is unhealthy [default: 3]',
      ),
    )
    .option(
      'health-start-period',
      durationOption(
        'health-start-period',
        'failures during this time after start do not count [default: 0s]',
      ),
    )
    .option('healthcheck', {
      type: 'boolean',
      describe: "use --no-healthcheck to run no health check, not even the image's",
    })
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

export interface LifecycleFlags {
  healthCmd?: string;
  healthInterval?: number;
  healthTimeout?: number;
  healthRetries?: number;
  healthStartPeriod?: number;
  healthcheck?: boolean;
}

/** The health check the flags describe, or undefined when no health flag was given. */
export function healthcheckOf(f: LifecycleFlags): Healthcheck | undefined {
  const timing: Healthcheck = {
    ...(f.healthInterval !== undefined ? { intervalMs: f.healthInterval } : {}),
    ...(f.healthTimeout !== undefined ? { timeoutMs: f.healthTimeout } : {}),
    ...(f.healthRetries !== undefined ? { retries: f.healthRetries } : {}),
    ...(f.healthStartPeriod !== undefined ? { startPeriodMs: f.healthStartPeriod } : {}),
  };
  if (f.healthcheck === false) {
    if (f.healthCmd !== undefined || Object.keys(timing).length > 0)
      throw new UsageError('--no-healthcheck conflicts with --health-* options');
    return { test: ['NONE'] };
  }
  if (f.healthCmd !== undefined) {
    if (f.healthCmd.trim() === '') throw new UsageError('--health-cmd needs a command');
    return { test: ['CMD-SHELL', f.healthCmd], ...timing };
  }
  return Object.keys(timing).length > 0 ? timing : undefined;
}
