// Flags for what a command prints and how long it watches: --format, --detach, --timeout.
import type { Argv } from 'yargs';
import { durationFlag } from './values.js';

export const DEFAULT_CONVERGE_TIMEOUT = '5m';

export const withFormat = <T>(y: Argv<T>) =>
  y.option('format', {
    choices: ['table', 'json'] as const,
    default: 'table' as const,
    describe: 'output format',
  });

export const withProgress = <T>(y: Argv<T>) =>
  y
    .option('detach', {
      alias: 'd',
      type: 'boolean',
      default: false,
      describe: 'return at once instead of waiting for the service to converge',
    })
    .option('timeout', {
      type: 'string',
      default: DEFAULT_CONVERGE_TIMEOUT,
      describe: 'how long to wait for convergence (e.g. 30s, 5m)',
      coerce: (v: string) => durationFlag('timeout', v),
    });
