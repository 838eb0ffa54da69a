// Flags for what a command prints and how long it watches: --format, --filter, --quiet, --no-trunc, --detach, --timeout.
import type { Argv } from 'yargs';
import { durationFlag } from './values.js';

export const DEFAULT_CONVERGE_TIMEOUT = '5m';

export const withFormat = <T>(y: Argv<T>) =>
  y.option('format', {
    choices: ['table', 'json'] as const,
    default: 'table' as const,
    describe: 'output format',
  });

/** What every ls/ps takes, as Docker's do. */
export const withListOptions = <T>(y: Argv<T>) =>
  y
    .option('filter', {
      alias: 'f',
      type: 'string',
      array: true,
      nargs: 1,
      default: [] as string[],
      describe: 'show only what matches KEY=VALUE (e.g. name=web), repeatable',
    })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print only ids' })
    .option('format', {
      type: 'string',
      default: 'table',
      describe:
        "table, json, or a template: '{{.Name}} {{.Replicas}}', 'table {{.ID}}\\t{{.Name}}'",
    })
    .option('no-trunc', { type: 'boolean', default: false, describe: 'print full ids' })
    // yargs reads --no-trunc as trunc=false; declared so strict parsing knows it.
    .option('trunc', { type: 'boolean', hidden: true });

/** The list options as prepareListing takes them; yargs reads --no-trunc as trunc=false. */
export const listOptionsOf = (argv: {
  filter: string[];
  quiet: boolean;
  format: string;
  noTrunc?: boolean;
  trunc?: unknown;
}) => ({
  filter: argv.filter,
  quiet: argv.quiet,
  format: argv.format,
  noTrunc: argv.noTrunc === true || argv.trunc === false,
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
