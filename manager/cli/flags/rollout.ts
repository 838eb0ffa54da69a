// How tasks are replaced, on `service create` and `update`: the --update-* and --rollback-* flags, one builder for both.
import type { Argv, Options } from 'yargs';
import type { UpdateConfig } from '../../../shared/spec.js';
import { invalid } from '../usage.js';
import { choiceFlag, countOption, durationOption, ratioFlag } from './values.js';

const ORDERS = ['stop-first', 'start-first'] as const;

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
  prefetch?: boolean;
  rollbackParallelism?: number;
  rollbackDelay?: number;
  rollbackMonitor?: number;
  rollbackFailureAction?: 'pause' | 'continue';
  rollbackMaxFailureRatio?: number;
  rollbackOrder?: 'stop-first' | 'start-first';
}

type Phase = 'update' | 'rollback';

/**
 * What tells one family of rollout flags from another (--update-*, --rollback-*, those of
 * `fleet node upgrade`): their wording and failure actions; `order` only where tasks are replaced.
 */
export interface PhaseFlags {
  failureActions: readonly string[];
  parallelism: string;
  delay: string;
  monitor: string;
  failureAction: string;
  maxFailureRatio: string;
  order?: string;
}

const PHASES: Record<Phase, PhaseFlags> = {
  update: {
    failureActions: ['pause', 'continue', 'rollback'],
    parallelism: 'tasks replaced at once, 0 = all at once [default: 1]',
    delay: 'wait between replacing tasks, e.g. 10s [default: 0s]',
    monitor: 'how long a new task must stay running (and healthy) [default: 5s]',
    failureAction: 'when too many new tasks fail: pause|continue|rollback [default: pause]',
    maxFailureRatio: 'share of failed tasks tolerated, 0 to 1 [default: 0]',
    order: 'stop-first|start-first: stop the old task before or after the new one starts',
  },
  rollback: {
    failureActions: ['pause', 'continue'],
    parallelism: 'tasks rolled back at once, 0 = all at once [default: 1]',
    delay: 'wait between rolling back tasks [default: 0s]',
    monitor: 'how long a rolled-back task must stay running (and healthy) [default: 5s]',
    failureAction: 'when too many tasks fail during a rollback: pause|continue [default: pause]',
    maxFailureRatio: 'share of failed tasks tolerated during a rollback, 0 to 1 [default: 0]',
    order: 'stop-first|start-first, as --update-order, for rollbacks [default: stop-first]',
  },
};

/** A flag's name and its definition, as yargs takes them. */
export type Flag = [name: string, option: Options];
type Parse = (flag: string, value: unknown) => unknown;

/** The six flags --update-* and --rollback-* both have, in the order help lists them. */
function phaseOptions(phase: Phase): Flag[] {
  return waveOptions((name) => `${phase}-${name}`, PHASES[phase]);
}

/**
 * The flags of a rolling wave, named by `flag`: parallelism, delay, monitor, failure action,
 * failure ratio, and the order where `p` describes one.
 */
export function waveOptions(flag: (name: string) => string, p: PhaseFlags): Flag[] {
  const withArg = (name: string, describe: string, parse: Parse): Flag => [
    flag(name),
    { requiresArg: true, describe, coerce: (v: unknown) => parse(flag(name), v) },
  ];
  return [
    [flag('parallelism'), countOption(flag('parallelism'), p.parallelism)],
    [flag('delay'), durationOption(flag('delay'), p.delay)],
    [flag('monitor'), durationOption(flag('monitor'), p.monitor)],
    withArg('failure-action', p.failureAction, (f, v) => choiceFlag(f, v, p.failureActions)),
    withArg('max-failure-ratio', p.maxFailureRatio, ratioFlag),
    ...(p.order ? [withArg('order', p.order, (f, v) => choiceFlag(f, v, ORDERS))] : []),
  ];
}

/** Adds --update-* and --rollback-*, as docker service create and update take them. */
export const withUpdateOptions = <T>(y: Argv<T>): Argv<T & UpdateFlags> => {
  const options: Flag[] = [
    ...phaseOptions('update'),
    [
      'update-canary',
      {
        requiresArg: true,
        describe: 'update N tasks (or N% of them) first, then wait for `fleet service promote`',
        coerce: (v: unknown) => canaryFlag('update-canary', v),
      },
    ],
    [
      'update-auto-promote',
      {
        type: 'boolean',
        describe: 'promote the canaries once they stay healthy for the monitor period',
      },
    ],
    [
      'prefetch',
      {
        type: 'boolean',
        describe:
          'with an image stored in the fleet, download it to the nodes first and replace tasks only then (--prefetch=false: replace at once) [default: true]',
      },
    ],
    ...phaseOptions('rollback'),
  ];
  for (const [name, option] of options) y.option(name, option);
  return y as Argv<T & UpdateFlags>;
};

/** The update and rollback settings the flags give, each only when some flag for it was given. */
export function updateConfigsOf(f: UpdateFlags): {
  update?: UpdateConfig;
  rollback?: UpdateConfig;
} {
  const update = defined({
    ...phaseConfig(f, 'update'),
    ...(f.updateCanary ?? {}),
    autoPromote: f.updateAutoPromote,
    prefetch: f.prefetch,
  });
  const rollback = defined(phaseConfig(f, 'rollback'));
  return {
    ...(Object.keys(update).length > 0 ? { update } : {}),
    ...(Object.keys(rollback).length > 0 ? { rollback } : {}),
  };
}

function phaseConfig(f: UpdateFlags, phase: Phase): UpdateConfig {
  return {
    parallelism: f[`${phase}Parallelism`],
    delayMs: f[`${phase}Delay`],
    monitorMs: f[`${phase}Monitor`],
    failureAction: f[`${phase}FailureAction`],
    maxFailureRatio: f[`${phase}MaxFailureRatio`],
    order: f[`${phase}Order`],
  };
}

/** The fields that have a value. */
function defined(config: UpdateConfig): UpdateConfig {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
}
