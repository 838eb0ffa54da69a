// The agent's flags about logs: the byte budget of followed logs and the rotation of the process runtime's task logs.
import type { Argv } from 'yargs';
import { parseBandwidth } from '../shared/images/bandwidth.js';
import { DEFAULT_LOG_BUDGET } from '../shared/log-stream.js';
import { DEFAULT_ROTATION, type LogRotation } from './runtime/process/log-book.js';

/** Adds --log-budget, --log-max-size and --log-max-files to an agent command. */
export function withLogOptions<T>(y: Argv<T>) {
  return y
    .option('log-budget', {
      type: 'string',
      default: `${DEFAULT_LOG_BUDGET / 1024}k`,
      describe:
        'log bytes per second this board sends while someone follows logs, e.g. 256k (reading pauses beyond it)',
      coerce: (v: string) => {
        const n = parseBandwidth(String(v));
        if (n === null || n <= 0)
          throw new Error(`--log-budget must be a rate such as 256k or 1M, got "${v}"`);
        return n;
      },
    })
    .option('log-max-size', {
      type: 'string',
      default: `${DEFAULT_ROTATION.maxBytes / 1024 / 1024}M`,
      describe: 'process runtime: a task log is rotated once larger than this, e.g. 10M',
      coerce: (v: string) => {
        const n = parseBandwidth(String(v));
        if (n === null || n < 1024)
          throw new Error(`--log-max-size must be a size of at least 1k such as 10M, got "${v}"`);
        return n;
      },
    })
    .option('log-max-files', {
      type: 'number',
      default: DEFAULT_ROTATION.files,
      describe: 'process runtime: files kept per task log, the one written included',
      coerce: (v: number) => {
        if (!Number.isInteger(v) || v < 1 || v > 100)
          throw new Error(`--log-max-files must be a whole number from 1 to 100, got "${v}"`);
        return v;
      },
    });
}

export const rotationOf = (argv: {
  'log-max-size': number;
  'log-max-files': number;
}): LogRotation => ({ maxBytes: argv['log-max-size'], files: argv['log-max-files'] });
