// `service create`'s flags, each already parsed, into a validated service spec; a mistake names its flag.
import {
  isJobMode,
  isPerNodeMode,
  serviceSpecSchema,
  type ServiceMode,
  type FileRef,
  type Healthcheck,
  type ServiceSpec,
  type UpdateConfig,
} from '../../../shared/spec.js';
import type { PortInput } from '../flags/publish.js';
import { taskOptionsOf, type ServiceOptionFlags } from '../flags/service-options.js';
import { UsageError } from '../usage.js';

/** The parsed flags of `service create`, after each flag's own parser has run. */
export interface CreateFlags extends ServiceOptionFlags {
  name: string;
  image: string;
  command?: string[];
  /** The image's entrypoint replaced, already split into words. */
  entrypoint?: string[];
  mode?: ServiceMode;
  replicas?: number;
  maxConcurrent?: number;
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
  const mode = f.mode ?? 'replicated';
  if (isPerNodeMode(mode) && f.replicas !== undefined) {
    throw new UsageError(`--replicas can only be used with --mode replicated or replicated-job`);
  }
  if (f.maxConcurrent !== undefined && mode !== 'replicated-job') {
    throw new UsageError('--max-concurrent can only be used with --mode replicated-job');
  }
  if (isJobMode(mode) && f.restartCondition === 'any') {
    throw new UsageError('--restart-condition any would run a completed job task again');
  }
  const r = serviceSpecSchema.safeParse({
    name: f.name,
    mode: f.mode,
    replicas: f.replicas,
    ...(f.maxConcurrent !== undefined ? { maxConcurrent: f.maxConcurrent } : {}),
    task: {
      image: f.image,
      command: f.command,
      ...(f.entrypoint ? { entrypoint: f.entrypoint } : {}),
      env: { ...f.envFile, ...f.env },
      ports: f.publish,
      restart: {
        // As Docker: a job's task is restarted when it fails, not when it completes.
        condition: f.restartCondition ?? (isJobMode(mode) ? 'on-failure' : undefined),
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
      ...taskOptionsOf(f),
    },
    constraints: f.constraint,
    maxReplicasPerNode: f.maxReplicasPerNode,
    labels: f.label,
    ...(f.placementPref?.length ? { placementPrefs: f.placementPref } : {}),
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
  ['maxConcurrent', '--max-concurrent'],
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
  ['task.mounts', '--mount'],
  ['task.readOnly', '--read-only'],
  ['task.devices', '--device'],
  ['task.capAdd', '--cap-add'],
  ['task.capDrop', '--cap-drop'],
  ['task.groupAdd', '--group-add'],
  ['task.sysctls', '--sysctl'],
  ['task.ulimits', '--ulimit'],
  ['task.limits.cpu', '--limit-cpu'],
  ['task.limits.memoryBytes', '--limit-memory'],
  ['task.hostname', '--hostname'],
  ['task.user', '--user'],
  ['task.workdir', '--workdir'],
  ['task.containerLabels', '--container-label'],
  ['task.stopSignal', '--stop-signal'],
  ['task.dns', '--dns'],
  ['placementPrefs', '--placement-pref'],
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
  ['update.prefetch', '--prefetch'],
  ['update', '--update-*'],
  ['rollback.parallelism', '--rollback-parallelism'],
  ['rollback.delayMs', '--rollback-delay'],
  ['rollback.monitorMs', '--rollback-monitor'],
  ['rollback.failureAction', '--rollback-failure-action'],
  ['rollback.maxFailureRatio', '--rollback-max-failure-ratio'],
  ['rollback.order', '--rollback-order'],
  ['rollback', '--rollback-*'],
];
