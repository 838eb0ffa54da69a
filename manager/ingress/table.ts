// The routing mesh's table, computed from the store: which running tasks serve each ingress port.
import type { IngressTable } from '../../shared/protocol.js';
import {
  DEFAULT_DRAIN_TIMEOUT_MS,
  type HostPort,
  type NodeRecord,
  type ServiceRecord,
  type TaskRecord,
  type TaskTemplate,
} from '../../shared/spec.js';
import type { StoreView } from '../store/store.js';

type TablePort = IngressTable['ports'][number];

/**
 * Every ingress port of every service, with the tasks that may take new connections: running,
 * healthy if checked, meant to keep running, with the target port bound on the host. A task
 * being stopped leaves the table before its agent stops it, so new connections go elsewhere
 * while open ones drain.
 */
export function buildIngressTable(store: StoreView): IngressTable {
  const ports: TablePort[] = [];
  for (const service of store.services()) ports.push(...ingressPortsOf(store, service));
  ports.sort((a, b) => a.published - b.published || a.protocol.localeCompare(b.protocol));
  return { v: 1, version: store.appliedIndex, ports };
}

/** One service's ingress ports and their backends (also shown by `service inspect`). */
export function ingressPortsOf(store: StoreView, service: ServiceRecord): TablePort[] {
  const out: TablePort[] = [];
  for (const port of service.spec.task.ports) {
    if (port.mode !== 'ingress' || port.published === undefined) continue;
    out.push({
      published: port.published,
      protocol: port.protocol,
      service: service.spec.name,
      target: port.target,
      ...(port.proxy ? { proxy: port.proxy } : {}),
      drainMs: forwarderDrainMs(service.spec.task),
      backends: backendsOf(store, service, port.target, port.protocol),
    });
  }
  return out;
}

function backendsOf(
  store: StoreView,
  service: ServiceRecord,
  target: number,
  protocol: 'tcp' | 'udp',
): TablePort['backends'] {
  const out: TablePort['backends'] = [];
  for (const t of store.tasksOfService(service.id)) {
    if (!servesTraffic(t) || !t.nodeId) continue;
    const bound = t.status.hostPorts.find((h) => h.target === target && h.protocol === protocol);
    if (!bound) continue;
    const node = store.node(t.nodeId);
    if (!node || node.status === 'down') continue;
    out.push({
      taskId: t.id,
      nodeId: t.nodeId,
      host: boundHost(bound, node),
      port: bound.hostPort,
    });
  }
  return out.sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
}

/** Where a bound port is reached: Docker binds on the node's address; a wildcard through it. */
export function boundHost(bound: HostPort, node: NodeRecord): string {
  const wildcard = bound.hostIp === '' || bound.hostIp === '0.0.0.0' || bound.hostIp === '::';
  return wildcard ? node.address : bound.hostIp;
}

/** Running, meant to keep running, and healthy when it has a health check. */
export const servesTraffic = (t: TaskRecord): boolean =>
  t.desiredState === 'running' &&
  t.status.state === 'running' &&
  (t.status.health === undefined || t.status.health === 'healthy');

/**
 * Forwarders keep a removed task's connections while its agent drains it and while it stops,
 * so they never cut what the task itself would still finish.
 */
const forwarderDrainMs = (t: TaskTemplate): number =>
  (t.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS) + t.stopGracePeriodMs;

/** The table without its version: what decides whether agents need a new copy. */
export const tableContent = (t: IngressTable): string => JSON.stringify(t.ports);
