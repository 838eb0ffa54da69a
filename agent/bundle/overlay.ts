// The bundle's tasks in the agent's assignment format, and the assignment the agent runs while a bundle awaits adoption.
import { bundleTasks, type BundleManifest } from '../../shared/bundle/manifest.js';
import type { AssignedTask, Assignment } from '../../shared/protocol.js';
import type { BundleReport } from '../../shared/bundle/report.js';
import type { PendingBundle } from './state.js';

/** The heartbeat period of an assignment made up on a board that never heard from a manager. */
const OFFLINE_HEARTBEAT_MS = 5_000;

/** What this node runs for the bundle, as a manager would have assigned it. */
export function bundleAssignedTasks(m: BundleManifest, nodeId: string): AssignedTask[] {
  return bundleTasks(m, nodeId).map(({ id, service, slot }) => ({
    id,
    serviceId: service.id,
    serviceName: service.spec.name,
    slot,
    template: service.spec.task,
    notBefore: 0,
  }));
}

/**
 * The manager's assignment with the pending bundle's tasks in place of the assignment's tasks
 * of the same services. A manager that has not adopted the bundle yet (it just came back and
 * published what it knew) must not stop them; once an assignment names the bundle in
 * adoptedBundle, that assignment alone says what runs.
 */
export function withBundle(
  a: Assignment | null,
  pending: PendingBundle | undefined,
  nodeId: string,
): Assignment | null {
  if (!pending) return a;
  const services = new Set(pending.serviceIds);
  const ids = new Set(pending.tasks.map((t) => t.id));
  const base: Assignment = a ?? {
    v: 1,
    version: 0,
    nodeId,
    heartbeatMs: OFFLINE_HEARTBEAT_MS,
    tasks: [],
  };
  const kept = base.tasks.filter((t) => !services.has(t.serviceId) && !ids.has(t.id));
  return { ...base, tasks: [...kept, ...pending.tasks] };
}

/** The status field that asks the managers to adopt the pending bundle. */
export function bundleReportOf(pending: PendingBundle | undefined): BundleReport | undefined {
  return pending ? { signed: pending.signed } : undefined;
}
