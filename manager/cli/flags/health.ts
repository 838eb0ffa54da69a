// A task's health check on `service create` and `update`: --health-*, --no-healthcheck, and the check they build.
import type { Argv } from 'yargs';
import type { Healthcheck } from '../../../shared/spec.js';
import { UsageError } from '../usage.js';
import { countOption, durationOption } from './values.js';

/** Adds --health-cmd, --health-interval, -timeout, -retries, -start-period and --no-healthcheck. */
export const withHealthOptions = <T>(y: Argv<T>) =>
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
    });

export interface HealthFlags {
  healthCmd?: string;
  healthInterval?: number;
  healthTimeout?: number;
  healthRetries?: number;
  healthStartPeriod?: number;
  healthcheck?: boolean;
}

/** The health check the flags describe, or undefined when no health flag was given. */
export function healthcheckOf(f: HealthFlags): Healthcheck | undefined {
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
