// Turns store records into the shapes the CLI prints (the contract other tools rely on).
import type {
  NodeManagerStatus,
  NodeView,
  ServiceDetail,
  ServiceView,
  TaskView,
  UpdateStatusView,
} from '../../shared/api.js';
import {
  isJobMode,
  takesTasks,
  taskName,
  type NodeRecord,
  type ServiceRecord,
  type TaskRecord,
} from '../../shared/spec.js';
import type { UpdateStatus } from '../../shared/update-config.js';
import type { StoreView } from '../store/store.js';
import type { IngressStatsView } from '../ingress/stats.js';
import { ingressPortsOf } from '../ingress/table.js';
import { eligibleNodes } from '../orchestrator/eligible.js';
import { completedCount } from '../orchestrator/jobs.js';
import { isLive } from '../orchestrator/tasks.js';
import { nodeUpgradeView } from '../upgrader/target.js';
import { nodeLinkView } from '../../shared/link-profile.js';
import { DEFAULT_HEARTBEAT_MS } from '../bootstrap/cluster.js';

const iso = (ms: number): string => new Date(ms).toISOString();

/** What the views need of the Raft group; null on a manager that answers without it. */
export interface RaftView {
  leaderId: string | null;
  raftRole(id: string): 'voter' | 'learner' | 'none';
  reachable(id: string): boolean;
  /** The highest index known to be on that manager, or null when this manager cannot tell. */
  appliedIndex(id: string): number | null;
}

export function managerStatus(
  n: NodeRecord,
  raft: RaftView | undefined,
): NodeManagerStatus | undefined {
  if (!n.manager) return undefined;
  return {
    address: n.manager.address,
    leader: raft?.leaderId === n.id,
    reachable: raft?.reachable(n.id) ?? false,
    raft: raft?.raftRole(n.id) ?? 'none',
  };
}

export function nodeView(store: StoreView, n: NodeRecord, raft?: RaftView): NodeView {
  const manager = managerStatus(n, raft);
  return {
    id: n.id,
    name: n.name,
    role: n.role,
    // A pure manager sends no heartbeats: it is as alive as the Raft group sees it. One with
    // a worker is as alive as its agent's heartbeats say, like any node that runs tasks.
    status: manager && !takesTasks(n) ? (manager.reachable ? 'ready' : 'down') : n.status,
    statusMessage: n.statusMessage,
    availability: n.availability,
    address: n.address,
    arch: n.arch,
    os: n.os,
    labels: n.labels,
    runtime: n.runtime,
    agentVersion: n.agentVersion,
    engineVersion: n.engineVersion ?? '',
    protocolVersion: n.protocolVersion ?? null,
    nodeVersion: n.nodeVersion ?? null,
    upgrade: nodeUpgradeView(store, n),
    resources: n.resources,
    allowDevices: n.allowDevices === true,
    ...nodeLinkView(n, store.cluster()?.heartbeatMs ?? DEFAULT_HEARTBEAT_MS),
    tasks: store.tasksOfNode(n.id).filter(isLive).length,
    ...(manager ? { manager } : {}),
    createdAt: iso(n.createdAt),
    updatedAt: iso(n.updatedAt),
  };
}

export function serviceView(store: StoreView, s: ServiceRecord): ServiceView {
  const tasks = store.tasksOfService(s.id);
  const running = tasks.filter(
    (t) => t.desiredState === 'running' && t.status.state === 'running',
  ).length;
  const desired =
    s.spec.mode === 'replicated'
      ? s.spec.replicas
      : new Set(tasks.filter((t) => t.desiredState === 'running').map((t) => t.nodeId)).size;
  return {
    id: s.id,
    name: s.spec.name,
    mode: s.spec.mode,
    replicas: isJobMode(s.spec.mode) ? jobReplicas(s, tasks, running) : { running, desired },
    image: s.spec.task.image,
    ports: s.spec.task.ports,
    labels: s.spec.labels,
    ...(s.updateStatus ? { updateStatus: updateStatusView(s.updateStatus) } : {}),
  };
}

/** As Docker counts a job: running now of wanted now, and completed of completions. */
function jobReplicas(
  s: ServiceRecord,
  tasks: readonly TaskRecord[],
  running: number,
): ServiceView['replicas'] {
  const completed = completedCount(s, tasks);
  const nodes = new Set(tasks.filter((t) => t.specVersion === s.specVersion).map((t) => t.nodeId));
  const completions = s.spec.mode === 'replicated-job' ? s.spec.replicas : nodes.size;
  const concurrent =
    s.spec.mode === 'replicated-job' && s.spec.maxConcurrent ? s.spec.maxConcurrent : completions;
  const desired = Math.max(0, Math.min(concurrent, completions - completed));
  return { running, desired, completed, completions };
}

function updateStatusView(u: UpdateStatus): UpdateStatusView {
  return {
    kind: u.kind,
    state: u.state,
    message: u.message,
    startedAt: iso(u.startedAt),
    ...(u.completedAt !== undefined ? { completedAt: iso(u.completedAt) } : {}),
    failedTasks: u.failedTaskIds.length,
    promoted: u.promoted,
  };
}

/** With `stats`, each ingress port carries the traffic counters the nodes reported. */
export function serviceDetail(
  store: StoreView,
  s: ServiceRecord,
  stats?: IngressStatsView,
): ServiceDetail {
  const ingress = ingressPortsOf(store, s).map((p) => {
    const traffic = stats?.portStats(store, p.published, p.protocol);
    return traffic ? { ...p, stats: traffic } : p;
  });
  return {
    ...serviceView(store, s),
    spec: s.spec,
    ingress,
    specVersion: s.specVersion,
    eligibleNodes: eligibleNodes(store, s).map((n) => n.id),
    digest: resolvedDigest(store, s),
    withRegistryAuth: s.registryAuth !== undefined,
    ...(s.previousSpec ? { previousSpec: s.previousSpec } : {}),
    createdAt: iso(s.createdAt),
    updatedAt: iso(s.updatedAt),
  };
}

/** The digest the running tasks of the current spec version agree on, or null. */
export function resolvedDigest(store: StoreView, s: ServiceRecord): string | null {
  const current = store
    .tasksOfService(s.id)
    .filter(
      (t) =>
        t.desiredState === 'running' &&
        t.specVersion === s.specVersion &&
        t.status.state === 'running',
    );
  const digests = new Set(current.map((t) => t.status.digest ?? null));
  const [only] = [...digests];
  return digests.size === 1 && only !== undefined ? only : null;
}

export function taskView(store: StoreView, t: TaskRecord): TaskView {
  return {
    id: t.id,
    name: taskName(t),
    service: t.serviceName,
    slot: t.slot,
    image: t.template.image,
    digest: t.status.digest ?? null,
    specVersion: t.specVersion,
    node: t.nodeId,
    nodeName: t.nodeId ? (store.node(t.nodeId)?.name ?? null) : null,
    desiredState: t.desiredState,
    state: t.status.state,
    message: t.status.message,
    error: t.status.error,
    restarts: t.status.restarts,
    ...(t.status.reasonCode ? { reasonCode: t.status.reasonCode } : {}),
    health: t.status.health ?? 'none',
    hostPorts: t.status.hostPorts,
    updatedAt: iso(t.updatedAt),
  };
}

/** A service's tasks as `service ps` lists them: by slot, then node, newest first. */
export function serviceTasks(store: StoreView, s: ServiceRecord, all: boolean): TaskView[] {
  return store
    .tasksOfService(s.id)
    .filter((t) => all || t.desiredState === 'running')
    .sort(
      (a, b) =>
        a.slot - b.slot ||
        (a.nodeId ?? '').localeCompare(b.nodeId ?? '') ||
        b.createdAt - a.createdAt,
    )
    .map((t) => taskView(store, t));
}
