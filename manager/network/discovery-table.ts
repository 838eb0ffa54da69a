// The discovery table, computed from the store: for every cluster network, its services' names and the tasks behind each port.
import {
  dnsNameSchema,
  type DiscoveryService,
  type DiscoveryTable,
  type NetworkRecord,
} from '../../shared/network.js';
import type { ServiceRecord } from '../../shared/spec.js';
import { boundHost, servesTraffic } from '../ingress/table.js';
import type { StoreView } from '../store/view.js';

type Port = DiscoveryService['ports'][number];

export function buildDiscoveryTable(store: StoreView): DiscoveryTable {
  const attached = servicesByNetwork(store);
  const networks = [...store.networks()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n: NetworkRecord) => ({
      name: n.name,
      internal: n.internal,
      ...(n.stack ? { stack: n.stack } : {}),
      services: (attached.get(n.name) ?? []).map((s) => discoveryEntry(store, s, n.name)),
    }));
  const stacks = [...store.stacks()].map((s) => s.name).sort();
  return { v: 1, version: store.appliedIndex, networks, stacks };
}

/** The table without its version: what decides whether agents need a new copy. */
export const discoveryContent = (t: DiscoveryTable): string =>
  JSON.stringify([t.networks, t.stacks]);

function servicesByNetwork(store: StoreView): Map<string, ServiceRecord[]> {
  const out = new Map<string, ServiceRecord[]>();
  const services = [...store.services()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  for (const s of services)
    for (const n of s.spec.task.networks ?? []) {
      const list = out.get(n.name) ?? [];
      list.push(s);
      out.set(n.name, list);
    }
  return out;
}

/** The names a service answers to on a network: its aliases there and its own name. */
export function namesOn(s: ServiceRecord, network: string): string[] {
  const aliases = s.spec.task.networks?.find((n) => n.name === network)?.aliases ?? [];
  const names = [...aliases, s.spec.name].filter((n) => dnsNameSchema.safeParse(n).success);
  return [...new Set(names)];
}

function discoveryEntry(store: StoreView, s: ServiceRecord, network: string): DiscoveryService {
  const ports = new Map<string, Port>();
  const portOf = (target: number, protocol: 'tcp' | 'udp'): Port => {
    const key = `${target}/${protocol}`;
    let p = ports.get(key);
    if (!p) ports.set(key, (p = { target, protocol, backends: [] }));
    return p;
  };
  // Declared ports are listed even before a task serves them, so the name answers at once.
  for (const p of s.spec.task.ports) portOf(p.target, p.protocol);
  for (const e of s.spec.task.expose ?? []) portOf(e.port, e.protocol);
  for (const t of store.tasksOfService(s.id)) {
    if (!servesTraffic(t) || !t.nodeId) continue;
    const node = store.node(t.nodeId);
    if (!node || node.status === 'down') continue;
    for (const bound of t.status.hostPorts)
      portOf(bound.target, bound.protocol).backends.push({
        taskId: t.id,
        nodeId: t.nodeId,
        host: boundHost(bound, node),
        port: bound.hostPort,
      });
  }
  const sorted = [...ports.values()].sort(
    (a, b) => a.target - b.target || a.protocol.localeCompare(b.protocol),
  );
  for (const p of sorted) p.backends.sort((a, b) => (a.taskId < b.taskId ? -1 : 1));
  return { service: s.spec.name, names: namesOn(s, network), ports: sorted };
}
