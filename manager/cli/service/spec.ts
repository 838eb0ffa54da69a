// `service create`'s flags, each already parsed, into a validated service spec; a mistake names its flag.
import {
  serviceSpecSchema,
  type FileRef,
  type Healthcheck,
  type ServiceSpec,
  type UpdateConfig,
} from '../../../shared/spec.js';
import type { PortInput } from '../flags/publish.js';
import { UsageError } from '../usage.js';

/** The parsed flags of `service create`, after each flag's own parser has run. */
export interface CreateFlags {
  name: string;
  image: string;
  command?: string[];
  /** The image's entrypoint replaced, already split into words. */
  entrypoint?: string[];
  mode?: 'replicated' | 'global';
  replicas?: number;
  env?: Record<string, string>;
  publish?: PortInput[];
  constraint?: string[];
  reserveCpu?: number;
  reserveMemory?: number;
  maxReplicasPerNode?: number;
  restartCondition?: 'none' | 'on-failure' | 'any';
  restartDelay?: number;
  restartMaxAttempts?: number;
  restartWindow?: number;
  stopGracePeriod?: number;
  drainTimeout?: number;
  init?: boolean;
  /** The health check built from the --health-* flags. */
  health?: Healthcheck;
  label?: Record<string, string>;
  secret?: FileRef[];
  config?: FileRef[];
  /** Update and rollback settings built from the --update-* and --rollback-* flags. */
  update?: UpdateConfig;
  rollback?: UpdateConfig;
}

/** Builds the spec from the flags and validates it here, so mistakes are usage errors naming a flag. */
export function buildSpec(f: CreateFlags): ServiceSpec {
  if (f.mode === 'global' && f.replicas !== undefined) {
    throw new UsageError('--replicas can only be used with --mode replicated');
  }
  const r = serviceSpecSchema.safeParse({
    name: f.name,
    mode: f.mode,
    replicas: f.replicas,
    task: {
      image: f.image,
      command: f.command,
      ...(f.entrypoint ? { entrypoint: f.entrypoint } : {}),
      env: f.env,
      ports: f.publish,
      restart: {
        condition: f.restartCondition,
        delayMs: f.restartDelay,
        maxAttempts: f.restartMaxAttempts,
        windowMs: f.restartWindow,
      },
      resources: { cpu: f.reserveCpu ?? 0, memoryBytes: f.reserveMemory ?? 0 },
      stopGracePeriodMs: f.stopGracePeriod,
      ...(f.drainTimeout !== undefined ? { drainTimeoutMs: f.drainTimeout } : {}),
      ...(f.init !== undefined ? { init: f.init } : {}),
      ...(f.health ? { healthcheck: f.health } : {}),
      secrets: f.secret,
      configs: f.config,
    },
    constraints: f.constraint,
    maxReplicasPerNode: f.maxReplicasPerNode,
    labels: f.label,
    ...(f.update ? { update: f.update } : {}),
    ...(f.rollback ? { rollback: f.rollback } : {}),
  });
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  const flag = FLAG_FOR_PATH.find(([prefix]) => path === prefix || path.startsWith(prefix + '.'));
  throw new UsageError(`Invalid value for ${flag?.[1] ?? path}: ${issue?.message ?? 'invalid'}`);
}

const FLAG_FOR_PATH: readonly (readonly [string, string])[] = [
  ['name', '--name'],
  ['mode', '--mode'],
  ['replicas', '--replicas'],
  ['task.image', 'IMAGE'],
  ['task.command', 'COMMAND'],
  ['task.entrypoint', '--entrypoint'],
  ['task.env', '--env'],
  ['task.ports', '--publish'],
  ['task.restart.condition', '--restart-condition'],
  ['task.restart.delayMs', '--restart-delay'],
  ['task.restart.maxAttempts', '--restart-max-attempts'],
  ['task.restart.windowMs', '--restart-window'],
  ['task.resources.cpu', '--reserve-cpu'],
  ['task.resources.memoryBytes', '--reserve-memory'],
  ['task.stopGracePeriodMs', '--stop-grace-period'],
  ['task.drainTimeoutMs', '--drain-timeout'],
  ['task.healthcheck', '--health-cmd'],
  ['task.secrets', '--secret'],
  ['task.configs', '--config'],
  ['constraints', '--constraint'],
  ['maxReplicasPerNode', '--max-replicas-per-node'],
  ['labels', '--label'],
  ['update.parallelism', '--update-parallelism'],
  ['update.delayMs', '--update-delay'],
  ['update.monitorMs', '--update-monitor'],
  ['update.failureAction', '--update-failure-action'],
  ['update.maxFailureRatio', '--update-max-failure-ratio'],
  ['update.order', '--update-order'],
  ['update.canary', '--update-canary'],
  ['update.canaryPercent', '--update-canary'],
  ['update.autoPromote', '--update-auto-promote'],
  ['update', '--update-*'],
  ['rollback.parallelism', '--rollback-parallelism'],
  ['rollback.delayMs', '--rollback-delay'],
  ['rollback.monitorMs', '--rollback-monitor'],
  ['rollback.failureAction', '--rollback-failure-action'],
  ['rollback.maxFailureRatio', '--rollback-max-failure-ratio'],
  ['rollback.order', '--rollback-order'],
  ['rollback', '--rollback-*'],
];
