// Flags shared by `service create` and `service update` for a task's health check, drain and stop.
import type { Argv } from 'yargs';
import type { Healthcheck } from '../../shared/spec.js';
import { UsageError, countFlag, durationFlag } from './options.js';

/** Adds --health-*, --no-healthcheck, --drain-timeout and --stop-grace-period. */
export const withLifecycleOptions = <T>(y: Argv<T>) =>
  y
    .option('health-cmd', {
      type: 'string',
      requiresArg: true,
      describe: 'command run inside the task to check its health (exit 0 = healthy), via sh -c',
    })
    .option('health-interval', {
      type: 'string',
      describe: "time between checks, e.g. 5s [default: the image's, else 30s]",
      coerce: (v: string) => durationFlag('health-interval', v),
    })
    .option('health-timeout', {
      type: 'string',
      describe: 'a check taking longer fails [default: 30s]',
      coerce: (v: string) => durationFlag('health-timeout', v),
    })
    .option('health-retries', {
      requiresArg: true,
      describe: 'failed checks in a row before the task is unhealthy [default: 3]',
      coerce: (v: unknown) => countFlag('health-retries', v),
    })
    .option('health-start-period', {
      type: 'string',
      describe: 'failures during this time after start do not count [default: 0s]',
      coerce: (v: string) => durationFlag('health-start-period', v),
    })
    .option('healthcheck', {
      type: 'boolean',
      describe: "use --no-healthcheck to run no health check, not even the image's",
    })
    .option('drain-timeout', {
      type: 'string',
      describe: 'time a stopping task keeps serving its open connections [default: 10s]',
      coerce: (v: string) => durationFlag('drain-timeout', v),
    })
    .option('init', {
      type: 'boolean',
      describe:
        'run an init as PID 1 that passes signals on and reaps zombies, so a program without ' +
        'a SIGTERM handler stops at once [default: false]',
    })
    .option('stop-grace-period', {
      type: 'string',
      describe: 'time a task gets to stop before it is killed [default: 10s]',
      coerce: (v: string) => durationFlag('stop-grace-period', v),
    });

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
