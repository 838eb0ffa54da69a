// Service versions: what makes a change replace tasks, a new spec version, sealed registry credentials, spec checks.
import { invalidArgument } from '../../shared/errors.js';
import type { RegistryAuthValue } from '../../shared/registry-auth.js';
import { encryptAtRest } from '../../shared/sealing.js';
import {
  isJobMode,
  isPerNodeMode,
  parseConstraint,
  type ServiceRecord,
  type ServiceSpec,
} from '../../shared/spec.js';

/** What decides whether tasks must be replaced: everything but the count and update settings. */
export function tasksKey(spec: ServiceSpec): string {
  return JSON.stringify({ ...spec, replicas: 0, update: undefined, rollback: undefined });
}

/** A new spec version, rolled out by the updater; the old spec is kept for a rollback. */
/** Registry credentials as the store keeps them: encrypted at rest, like secrets. */
export function sealedAuth(
  dataKey: Uint8Array,
  auth: RegistryAuthValue | undefined,
): { registryAuth?: string } {
  if (!auth) return {};
  return { registryAuth: encryptAtRest(dataKey, Buffer.from(JSON.stringify(auth))) };
}

export function newVersion(s: ServiceRecord, spec: ServiceSpec, now: number): ServiceRecord {
  const version = Math.max(s.lastSpecVersion ?? 0, s.specVersion) + 1;
  if (isJobMode(spec.mode)) return newJobIteration(s, spec, version, now);
  return {
    ...s,
    spec,
    specVersion: version,
    lastSpecVersion: version,
    previousSpec: s.spec,
    previousSpecVersion: s.specVersion,
    updateStatus: {
      kind: 'update',
      state: 'updating',
      message: '',
      startedAt: now,
      fromVersion: s.specVersion,
      failedTaskIds: [],
      promoted: false,
    },
    updatedAt: now,
  };
}

/** A job's new spec version is a new run of the whole job: no rolling update to track. */
function newJobIteration(
  s: ServiceRecord,
  spec: ServiceSpec,
  version: number,
  now: number,
): ServiceRecord {
  const { updateStatus: _done, ...rest } = s;
  void _done;
  return {
    ...rest,
    spec,
    specVersion: version,
    lastSpecVersion: version,
    previousSpec: s.spec,
    previousSpecVersion: s.specVersion,
    updatedAt: now,
  };
}

/** A paused update goes on after any change but a scale, its failures forgiven. */
export function resumed(s: ServiceRecord, scaleOnly: boolean): Partial<ServiceRecord> {
  const u = s.updateStatus;
  if (!u || scaleOnly || (u.state !== 'paused' && u.state !== 'rollback paused')) return {};
  return {
    updateStatus: {
      ...u,
      state: u.kind === 'update' ? 'updating' : 'rolling back',
      message: 'resumed',
      failedTaskIds: [],
    },
  };
}

/** Jobs run to completion: a task that completes is never restarted. */
function checkJob(spec: ServiceSpec): void {
  if (spec.maxConcurrent !== undefined && spec.mode !== 'replicated-job')
    throw invalidArgument('--max-concurrent applies to replicated jobs only');
  if (isJobMode(spec.mode) && spec.task.restart.condition === 'any')
    throw invalidArgument(
      'jobs restart on-failure or none: restart condition any would run a completed task again',
    );
}

export function checkSpec(spec: ServiceSpec): void {
  for (const c of spec.constraints) {
    if (!parseConstraint(c))
      throw invalidArgument(`bad constraint "${c}": use node.labels.KEY==VALUE and the like`);
  }
  checkJob(spec);
  if (isPerNodeMode(spec.mode) && spec.replicas !== 1 && spec.replicas !== 0) {
    // replicas is meaningless for global services; accept the default silently, refuse a value
    throw invalidArgument('--replicas applies to replicated services only');
  }
  const r = spec.rollback;
  if (r?.failureAction === 'rollback')
    throw invalidArgument('--rollback-failure-action is pause or continue');
  if (r?.canary || r?.canaryPercent || r?.autoPromote)
    throw invalidArgument('rollbacks have no canaries');
  const seen = new Set<string>();
  for (const port of spec.task.ports) {
    if (port.published === undefined) continue;
    const key = `${port.published}/${port.protocol}`;
    if (seen.has(key)) throw invalidArgument(`port ${key} is published twice`);
    if (port.proxy === 'v1' && port.protocol === 'udp')
      throw invalidArgument(`port ${key}: PROXY protocol v1 cannot describe UDP; use proxy=v2`);
    seen.add(key);
  }
}

/**
 * The service with a changed spec: a new version, rolled out, when its tasks must be replaced
 * (or `force`); otherwise the spec in place, a paused update resumed unless the change is only
 * a new count of replicas (`replicasGiven` says the change set one).
 */
export function withSpec(
  s: ServiceRecord,
  spec: ServiceSpec,
  now: number,
  opts: { force?: boolean; replicasGiven: boolean },
): ServiceRecord {
  if (opts.force || tasksKey(spec) !== tasksKey(s.spec)) return newVersion(s, spec, now);
  const scaleOnly =
    opts.replicasGiven &&
    JSON.stringify({ ...spec, replicas: 0 }) === JSON.stringify({ ...s.spec, replicas: 0 });
  return { ...s, spec, updatedAt: now, ...resumed(s, scaleOnly) };
}
