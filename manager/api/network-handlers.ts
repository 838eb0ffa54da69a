// The API's network methods, and the check that a service joins only networks it may join.
import type { NetworkView } from '../../shared/api.js';
import { FleetError, alreadyExists, invalidArgument, notFound } from '../../shared/errors.js';
import { randomId } from '../../shared/identity.js';
import { STACK_LABEL, type NetworkRecord } from '../../shared/network.js';
import type { ServiceSpec } from '../../shared/spec.js';
import type { StoreView } from '../store/view.js';
import type { Handler } from './context.js';

type NetworkMethods = 'network.create' | 'network.ls' | 'network.inspect' | 'network.rm';

export const networkHandlers: { [M in NetworkMethods]: Handler<M> } = {
  'network.create': (p, { store, now }) => {
    if (store.networkByName(p.name)) throw alreadyExists(`network ${p.name}`);
    const network: NetworkRecord = {
      id: randomId(),
      name: p.name,
      driver: 'bridge',
      internal: p.internal,
      attachable: p.attachable,
      labels: p.labels,
      createdAt: now,
    };
    return {
      result: networkView(store, network),
      commands: [{ type: 'network.put', network }],
    };
  },
  'network.ls': (_p, { store }) => ({
    result: [...store.networks()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((n) => networkView(store, n)),
  }),
  'network.inspect': (p, { store }) => ({
    result: networkView(store, findNetwork(store, p.network)),
  }),
  'network.rm': (p, { store }) => {
    const n = findNetwork(store, p.network);
    if (n.stack)
      throw new FleetError(
        'conflict',
        `network ${n.name} belongs to stack ${n.stack}: it goes with "fleet stack rm ${n.stack}"`,
      );
    const users = servicesOn(store, n.name);
    if (users.length > 0)
      throw new FleetError(
        'conflict',
        `network ${n.name} is in use by service${users.length > 1 ? 's' : ''} ${users.join(', ')}`,
      );
    return { result: { id: n.id }, commands: [{ type: 'network.remove', id: n.id }] };
  },
};

export function findNetwork(store: StoreView, ref: string): NetworkRecord {
  const all = [...store.networks()];
  const exact = all.find((n) => n.name === ref || n.id === ref);
  if (exact) return exact;
  const byPrefix = all.filter((n) => n.id.startsWith(ref));
  if (byPrefix.length === 1 && byPrefix[0]) return byPrefix[0];
  if (byPrefix.length > 1) throw invalidArgument(`network id prefix ${ref} is ambiguous`);
  throw notFound(`network ${ref}`);
}

/** Services attached to the network, by name. */
export function servicesOn(store: StoreView, network: string): string[] {
  return [...store.services()]
    .filter((s) => s.spec.task.networks?.some((a) => a.name === network))
    .map((s) => s.spec.name)
    .sort();
}

/**
 * Refuses a spec that joins a network the cluster does not have, joins one twice, or joins
 * another stack's network that was not declared attachable.
 */
export function checkNetworks(store: StoreView, spec: ServiceSpec): void {
  const seen = new Set<string>();
  const stack = spec.labels[STACK_LABEL];
  for (const a of spec.task.networks ?? []) {
    if (seen.has(a.name)) throw invalidArgument(`network ${a.name} is given twice`);
    seen.add(a.name);
    const n = store.networkByName(a.name);
    if (!n) throw notFound(`network ${a.name} (create it with "fleet network create ${a.name}")`);
    if (n.stack && n.stack !== stack && !n.attachable)
      throw new FleetError(
        'conflict',
        `network ${n.name} belongs to stack ${n.stack} and is not attachable`,
      );
  }
}

export function networkView(store: StoreView, n: NetworkRecord): NetworkView {
  return {
    id: n.id,
    name: n.name,
    driver: n.driver,
    scope: 'cluster',
    stack: n.stack ?? null,
    internal: n.internal,
    attachable: n.attachable,
    labels: n.labels,
    services: servicesOn(store, n.name),
    createdAt: new Date(n.createdAt).toISOString(),
  };
}
