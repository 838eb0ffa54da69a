// Hard limits the runtime enforces on a task: --limit-cpu and --limit-memory.
import { MIN_MEMORY_LIMIT } from '../../../shared/spec.js';
import { invalid } from '../usage.js';
import { bytesFlag, nonNegativeFlag } from './values.js';

export const limitCpuOption = {
  requiresArg: true,
  describe: 'most CPU cores the task may use, e.g. 0.5 (0: no limit)',
  coerce: (v: unknown) => nonNegativeFlag('limit-cpu', v),
} as const;

export const limitMemoryOption = {
  type: 'string',
  describe: 'most memory the task may use, e.g. 64M; over it the task is killed (0: no limit)',
  coerce: (v: string) => {
    const n = bytesFlag('limit-memory', v);
    if (n > 0 && n < MIN_MEMORY_LIMIT) throw invalid('limit-memory', v, 'at least 6M, or 0');
    return n;
  },
} as const;
