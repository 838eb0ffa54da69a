// `fleet service logs` and `fleet node logs`: the flags both share, and the handler that streams.
import type { Argv } from 'yargs';
import { systemClock } from '../../../shared/clock.js';
import { withConnection, type ConnectionFlags } from '../connection.js';
import { parseSince, parseTail } from './format.js';
import type { LogTarget } from './stream-client.js';

/** Adds -f, --tail, --since and --timestamps (and, for services, --no-task-ids). */
export function withLogFlags<T>(y: Argv<T>) {
  return withConnection(y)
    .option('follow', {
      alias: 'f',
      type: 'boolean',
      default: false,
      describe: 'keep following new lines',
    })
    .option('tail', {
      type: 'string',
      default: 'all',
      describe: 'lines to show from the end of each log ("all": every line kept)',
    })
    .option('since', {
      type: 'string',
      describe:
        'only lines since a time: 2026-12-07T13:00:00Z, a Unix time, or a duration such as 10m',
    })
    .option('timestamps', {
      alias: 't',
      type: 'boolean',
      default: false,
      describe: 'show the time of each line',
    });
}

export interface LogFlags extends ConnectionFlags {
  follow: boolean;
  tail: string;
  since?: string | undefined;
  timestamps: boolean;
  'task-ids'?: boolean;
}

export async function runLogs(argv: LogFlags, target: LogTarget): Promise<void> {
  const tail = parseTail(argv.tail);
  const since = argv.since !== undefined ? parseSince(argv.since, systemClock.now()) : undefined;
  // Loaded only when run: --help must not load the MQTT client.
  const { streamLogs } = await import('./stream-client.js');
  await streamLogs(
    argv,
    target,
    {
      follow: argv.follow,
      ...(tail !== undefined ? { tail } : {}),
      ...(since !== undefined ? { since } : {}),
    },
    { timestamps: argv.timestamps, taskIds: argv['task-ids'] !== false },
  );
}
