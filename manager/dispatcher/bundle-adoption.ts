// Adopting an offline bundle a board reports: its services and tasks enter the store as they run, unless the store has newer.
import {
  bundleSigningText,
  bundleTasks,
  type BundleManifest,
} from '../../shared/bundle/manifest.js';
import type { BundleReport } from '../../shared/bundle/report.js';
import { fingerprint, verifyText } from '../../shared/identity.js';
import { isTerminal, type ServiceRecord, type TaskRecord } from '../../shared/spec.js';
import { shutdownTask } from '../orchestrator/tasks.js';
import type { Command } from '../store/commands.js';
import type { StoreView } from '../store/view.js';

export type Adoption =
  | { kind: 'none' }
  | { kind: 'refused'; reason: string; commands: Command[] }
  | { kind: 'adopted'; services: string[]; skipped: string[]; commands: Command[] };

/**
 * What the store needs so that the board's bundled tasks are the cluster's own: each bundled
 * service created (or moved to the bundle's spec when the store's is older), each task recorded
 * under the id the board gave it on this node, other live tasks of those slots shut down. A
 * service the store holds a newer spec of is left to the store, which then replaces the task.
 * The node record notes the bundle, which its next assignment names (adoptedBundle).
 */
export function adoptBundle(
  store: StoreView,
  nodeId: string,
  report: BundleReport,
  now: number,
): Adoption {
  const node = store.node(nodeId);
  const cluster = store.cluster();
  const m = report.signed.manifest;
  if (!node || !cluster) return { kind: 'none' };
  if (node.bundle && node.bundle.sequence >= m.sequence) return { kind: 'none' };
  const noted = (adopted: string[]): Command => ({
    type: 'node.put',
    node: { ...node, bundle: { id: m.id, sequence: m.sequence, adopted }, updatedAt: now },
  });
  if (
    m.cluster !== fingerprint(cluster.rootPub) ||
    !verifyText(bundleSigningText(m), report.signed.sig, cluster.rootPub)
  )
    return {
      kind: 'refused',
      reason: "the bundle is not signed by this cluster's root key",
      commands: [noted([])],
    };
  const services: ServiceRecord[] = [];
  const skipped: string[] = [];
  for (const b of m.services) {
    const next = adoptedService(store, b, now);
    if (next) services.push(next);
    else skipped.push(b.spec.name);
  }
  const tasks = adoptedTasks(store, m, nodeId, services, now);
  const commands: Command[] = services
    .filter((service) => service !== store.service(service.id))
    .map((service) => ({ type: 'service.put', service }));
  if (tasks.length > 0) commands.push({ type: 'tasks.put', tasks });
  commands.push(noted(services.map((s) => s.spec.name)));
  return { kind: 'adopted', services: services.map((s) => s.spec.name), skipped, commands };
}

/** The record to write for a bundled service; null when the store's is newer or the name is taken. */
function adoptedService(
  store: StoreView,
  b: BundleManifest['services'][number],
  now: number,
): ServiceRecord | null {
  const byName = store.serviceByName(b.spec.name);
  if (byName && byName.id !== b.id) return null;
  const old = store.service(b.id);
  if (!old)
    return { id: b.id, spec: b.spec, specVersion: b.specVersion, createdAt: now, updatedAt: now };
  if (old.specVersion > b.specVersion) return null;
  if (old.specVersion === b.specVersion) return old;
  return {
    ...old,
    spec: b.spec,
    specVersion: b.specVersion,
    lastSpecVersion: Math.max(old.lastSpecVersion ?? old.specVersion, b.specVersion),
    updatedAt: now,
  };
}

function adoptedTasks(
  store: StoreView,
  m: BundleManifest,
  nodeId: string,
  services: ServiceRecord[],
  now: number,
): TaskRecord[] {
  const adopted = new Map(services.map((s) => [s.id, s]));
  const out: TaskRecord[] = [];
  for (const t of bundleTasks(m, nodeId)) {
    const service = adopted.get(t.service.id);
    if (!service || store.task(t.id)) continue;
    const global = t.slot === 0;
    // The slot (or, for a global service, this node) now has the board's task: others end.
    for (const other of store.tasksOfService(service.id))
      if (
        other.desiredState === 'running' &&
        !isTerminal(other.status.state) &&
        (global ? other.nodeId === nodeId : other.slot === t.slot)
      )
        out.push(shutdownTask(other, now, `replaced by offline bundle ${m.sequence}`));
    out.push({
      id: t.id,
      serviceId: service.id,
      serviceName: service.spec.name,
      slot: t.slot,
      nodeId,
      desiredState: 'running',
      specVersion: service.specVersion,
      template: service.spec.task,
      status: {
        state: 'assigned',
        message: `adopted from offline bundle ${m.sequence}`,
        error: null,
        exitCode: null,
        hostPorts: [],
        runtimeId: null,
        restarts: 0,
        at: now,
      },
      notBefore: 0,
      restartHistory: [],
      createdAt: now,
      updatedAt: now,
    });
  }
  return out;
}
