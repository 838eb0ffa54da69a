// Finding nodes and services by id, unique id prefix or name, with clear errors.
import { FleetError, notFound } from '../../shared/errors.js';
import type { NodeRecord, ServiceRecord } from '../../shared/spec.js';
import type { StoreView } from '../store/store.js';

export function findNode(store: StoreView, ref: string): NodeRecord {
  return findOne([...store.nodes()], ref, (n) => n.name, `node ${ref}`);
}

export function findService(store: StoreView, ref: string): ServiceRecord {
  const byName = store.serviceByName(ref);
  if (byName) return byName;
  return findOne([...store.services()], ref, (s) => s.spec.name, `service ${ref}`);
}

function findOne<T extends { id: string }>(
  items: T[],
  ref: string,
  name: (t: T) => string,
  what: string,
): T {
  const exact = items.find((i) => i.id === ref);
  if (exact) return exact;
  const named = items.filter((i) => name(i) === ref);
  if (named.length === 1 && named[0]) return named[0];
  if (named.length > 1)
    throw new FleetError(
      'conflict',
      `${what} is ambiguous: ${named.length} match by name; use the id`,
    );
  const prefixed = items.filter((i) => i.id.startsWith(ref));
  if (prefixed.length === 1 && prefixed[0]) return prefixed[0];
  if (prefixed.length > 1)
    throw new FleetError('conflict', `${what} is ambiguous: ${prefixed.length} ids start with it`);
  throw notFound(what);
}
