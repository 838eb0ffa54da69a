// What a node must have free for a task: --reserve-cpu and --reserve-memory.
import { bytesFlag, nonNegativeFlag } from './values.js';

export const reserveCpuOption = {
  requiresArg: true,
  describe: 'CPU cores a node must have free, e.g. 0.5',
  coerce: (v: unknown) => nonNegativeFlag('reserve-cpu', v),
} as const;

export const reserveMemoryOption = {
  type: 'string',
  describe: 'memory a node must have free, e.g. 64M',
  coerce: (v: string) => bytesFlag('reserve-memory', v),
} as const;
