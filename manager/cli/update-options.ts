// Flags shared by `service create` and `service update` for how tasks are replaced: --update-* and --rollback-*.
import type { Argv } from 'yargs';
import type { UpdateConfig } from '../../shared/spec.js';
import { countFlag, durationFlag, invalid } from './options.js';

const FAILURE_ACTIONS = ['pause', 'continue', 'rollback'] as const;
const ROLLBACK_FAILURE_ACTIONS = ['pause', 'continue'] as const;
const ORDERS = ['stop-first', 'start-first'] as const;

/** One of `choices`, or a usage error naming the flag and what it takes. */
export function choiceFlag<C extends string>(
  flag: string,
  value: unknown,
  choices: readonly C[],
): C {
  const text = String(value);
  if (!(choices as readonly string[]).includes(text)) throw invalid(flag, text, choices.join('|'));
  return text as C;
}

/** A share from 0 to 1, such as 0.25. */
export function ratioFlag(flag: string, value: unknown): number {
  const text = String(value).trim();
  const n = Number(text);
  if (!/^\d*\.?\d+$/.test(text) || n > 1) throw invalid(flag, text, 'a number from 0 to 1');
  return n;
}

/** --update-canary: N tasks, or N% of them. */
export type CanaryFlag = { canary: number } | { canaryPercent: number };

export function canaryFlag(flag: string, value: unknown): CanaryFlag {
  const text = String(value).trim();
  const m = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (m) {
    const percent = Number(m[1]);
    if (percent > 100) throw invalid(flag, text, 'a number of tasks or a percentage up to 100%');
    return { canaryPercent: percent };
  }
  if (!/^\d+$/.test(text)) throw invalid(flag, text, 'a number of tasks (N) or a percentage (N%)');
  return { canary: Number(text) };
}

/** Adds --update-* and --rollback-*, as docker service create and update take them. */
export const withUpdateOptions = <T>(y: Argv<T>) =>
  y
    .option('update-parallelism', {
      requiresArg: true,
      describe: 'tasks replaced at once, 0 = all at once [default: 1]',
      coerce: (v: unknown) => countFlag('update-parallelism', v),
    })
    .option('update-delay', {
      type: 'string',
      describe: 'wait between replacing tasks, e.g. 10s [default: 0s]',
      coerce: (v: string) => durationFlag('update-delay', v),
    })
    .option('update-monitor', {
      type: 'string',
      describe: 'how long a new task must stay running (and healthy) [default: 5s]',
      coerce: (v: string) => durationFlag('update-monitor', v),
    })
    .option('update-failure-action', {
      requiresArg: true,
      describe: 'when too many new tasks fail: pause|continue|rollback [default: pause]',
      coerce: (v: unknown) => choiceFlag('update-failure-action', v, FAILURE_ACTIONS),
    })
    .option('update-max-failure-ratio', {
      requiresArg: true,
      describe: 'share of failed tasks tolerated, 0 to 1 [default: 0]',
      coerce: (v: unknown) => ratioFlag('update-max-failure-ratio', v),
    })
    .option('update-order', {
      requiresArg: true,
      describe: 'stop-first|start-first: stop the old task before or after the new one starts',
      coerce: (v: unknown) => choiceFlag('update-order', v, ORDERS),
    })
    .option('update-canary', {
      requiresArg: true,
      describe: 'update N tasks (or N% of them) first, then wait for `fleet service promote`',
      coerce: (v: unknown) => canaryFlag('update-canary', v),
    })
    .option('update-auto-promote', {
      type: 'boolean',
      describe: 'promote the canaries once they stay healthy for the monitor period',
    })
    .option('rollback-parallelism', {
      requiresArg: true,
      describe: 'tasks rolled back at once, 0 = all at once [default: 1]',
      coerce: (v: unknown) => countFlag('rollback-parallelism', v),
    })
    .option('rollback-delay', {
      type: 'string',
      describe: 'wait between rolling back tasks [default: 0s]',
      coerce: (v: string) => durationFlag('rollback-delay', v),
    })
    .option('rollback-monitor', {
      type: 'string',
      describe: 'how long a rolled-back task must stay running (and healthy) [default: 5s]',
      coerce: (v: string) => durationFlag('rollback-monitor', v),
    })
    .option('rollback-failure-action', {
      requiresArg: true,
      describe: 'when too many tasks fail during a rollback: pause|continue [default: pause]',
      coerce: (v: unknown) => choiceFlag('rollback-failure-action', v, ROLLBACK_FAILURE_ACTIONS),
    })
    .option('rollback-max-failure-ratio', {
      requiresArg: true,
      describe: 'share of failed tasks tolerated during a rollback, 0 to 1 [default: 0]',
      coerce: (v: unknown) => ratioFlag('rollback-max-failure-ratio', v),
    })
    .option('rollback-order', {
      requiresArg: true,
      describe: 'stop-first|start-first, as --update-order, for rollbacks [default: stop-first]',
      coerce: (v: unknown) => choiceFlag('rollback-order', v, ORDERS),
    });

/** The parsed --update-* and --rollback-* flags (camel-cased by yargs). */
export interface UpdateFlags {
  updateParallelism?: number;
  updateDelay?: number;
  updateMonitor?: number;
  updateFailureAction?: 'pause' | 'continue' | 'rollback';
  updateMaxFailureRatio?: number;
  updateOrder?: 'stop-first' | 'start-first';
  updateCanary?: CanaryFlag;
  updateAutoPromote?: boolean;
  rollbackParallelism?: number;
  rollbackDelay?: number;
  rollbackMonitor?: number;
  rollbackFailureAction?: 'pause' | 'continue';
  rollbackMaxFailureRatio?: number;
  rollbackOrder?: 'stop-first' | 'start-first';
}

/** The update and rollback settings the flags give, each only when some flag for it was given. */
export function updateConfigsOf(f: UpdateFlags): {
  update?: UpdateConfig;
  rollback?: UpdateConfig;
} {
  const update = defined({
    parallelism: f.updateParallelism,
    delayMs: f.updateDelay,
    monitorMs: f.updateMonitor,
    failureAction: f.updateFailureAction,
    maxFailureRatio: f.updateMaxFailureRatio,
    order: f.updateOrder,
    ...(f.updateCanary ?? {}),
    autoPromote: f.updateAutoPromote,
  });
  const rollback = defined({
    parallelism: f.rollbackParallelism,
    delayMs: f.rollbackDelay,
    monitorMs: f.rollbackMonitor,
    failureAction: f.rollbackFailureAction,
    maxFailureRatio: f.rollbackMaxFailureRatio,
    order: f.rollbackOrder,
  });
  return {
    ...(Object.keys(update).length > 0 ? { update } : {}),
    ...(Object.keys(rollback).length > 0 ? { rollback } : {}),
  };
}

/** The fields that have a value. */
function defined(config: UpdateConfig): UpdateConfig {
  return Object.fromEntries(
    Object.entries(config).filter(([, v]) => v !== undefined),
  ) as UpdateConfig;
}
