// The API's secret and config methods: values go in once, encrypted (secrets); only metadata comes out.
import type { ConfigView, SecretView } from '../../shared/api.js';
import { FleetError, alreadyExists, invalidArgument, notFound } from '../../shared/errors.js';
import { randomId } from '../../shared/identity.js';
import { encryptAtRest } from '../../shared/sealing.js';
import type { ServiceSpec } from '../../shared/spec.js';
import type { ConfigRecord, SecretRecord } from '../store/commands.js';
import type { StoreView } from '../store/store.js';
import type { Handler } from './context.js';

type FileMethods =
  | 'secret.create'
  | 'secret.ls'
  | 'secret.inspect'
  | 'secret.rm'
  | 'config.create'
  | 'config.ls'
  | 'config.inspect'
  | 'config.rm';

export const fileHandlers: { [M in FileMethods]: Handler<M> } = {
  'secret.create': (p, { store, now, dataKey }) => {
    if (store.secretByName(p.name)) throw alreadyExists(`secret ${p.name}`);
    const value = Buffer.from(p.data, 'base64');
    const secret: SecretRecord = {
      id: randomId(),
      name: p.name,
      encrypted: encryptAtRest(dataKey, value),
      size: value.length,
      labels: p.labels,
      createdAt: now,
    };
    value.fill(0);
    return {
      result: secretView(store, secret),
      commands: [{ type: 'secret.put', secret }],
    };
  },
  'secret.ls': (_p, { store }) => ({
    result: sortByName([...store.secrets()]).map((s) => secretView(store, s)),
  }),
  'secret.inspect': (p, { store }) => ({
    result: secretView(store, findByRef([...store.secrets()], p.secret, 'secret')),
  }),
  'secret.rm': (p, { store }) => {
    const s = findByRef([...store.secrets()], p.secret, 'secret');
    refuseInUse(store, 'secret', s.name);
    return { result: { id: s.id }, commands: [{ type: 'secret.remove', id: s.id }] };
  },
  'config.create': (p, { store, now }) => {
    if (store.configByName(p.name)) throw alreadyExists(`config ${p.name}`);
    const config: ConfigRecord = {
      id: randomId(),
      name: p.name,
      data: p.data,
      size: Buffer.from(p.data, 'base64').length,
      labels: p.labels,
      createdAt: now,
    };
    return {
      result: configView(store, config, false),
      commands: [{ type: 'config.put', config }],
    };
  },
  'config.ls': (_p, { store }) => ({
    result: sortByName([...store.configs()]).map((c) => configView(store, c, false)),
  }),
  'config.inspect': (p, { store }) => ({
    result: configView(store, findByRef([...store.configs()], p.config, 'config'), true),
  }),
  'config.rm': (p, { store }) => {
    const c = findByRef([...store.configs()], p.config, 'config');
    refuseInUse(store, 'config', c.name);
    return { result: { id: c.id }, commands: [{ type: 'config.remove', id: c.id }] };
  },
};

/** Refuses a spec that names a secret or config the cluster does not have, or mounts two at one path. */
export function checkFileRefs(store: StoreView, spec: ServiceSpec): void {
  const targets = new Set<string>();
  for (const ref of spec.task.secrets) {
    if (!store.secretByName(ref.name)) throw notFound(`secret ${ref.name}`);
    if (targets.has(ref.target)) throw invalidArgument(`two files target ${ref.target}`);
    targets.add(ref.target);
  }
  for (const ref of spec.task.configs) {
    if (!store.configByName(ref.name)) throw notFound(`config ${ref.name}`);
    if (targets.has(ref.target)) throw invalidArgument(`two files target ${ref.target}`);
    targets.add(ref.target);
  }
}

/**
 * Services whose spec, or one of whose tasks still meant to run, uses the named secret or
 * config. Tasks being shut down do not count: they are never sent the value again, so the old
 * secret of a rotation can go as soon as the update has replaced them.
 */
export function usersOf(store: StoreView, kind: 'secret' | 'config', name: string): string[] {
  const users = new Set<string>();
  const uses = (t: ServiceSpec['task']): boolean =>
    (kind === 'secret' ? t.secrets : t.configs).some((r) => r.name === name);
  for (const s of store.services()) if (uses(s.spec.task)) users.add(s.spec.name);
  for (const t of store.tasks()) {
    if (t.desiredState === 'running' && uses(t.template)) users.add(t.serviceName);
  }
  return [...users].sort();
}

function refuseInUse(store: StoreView, kind: 'secret' | 'config', name: string): void {
  const users = usersOf(store, kind, name);
  if (users.length === 0) return;
  throw new FleetError(
    'conflict',
    `${kind} ${name} is in use by service ${users.join(', ')}; remove it from the service first`,
  );
}

function secretView(store: StoreView, s: SecretRecord): SecretView {
  return {
    id: s.id,
    name: s.name,
    size: s.size,
    labels: s.labels,
    usedBy: usersOf(store, 'secret', s.name),
    createdAt: new Date(s.createdAt).toISOString(),
  };
}

function configView(store: StoreView, c: ConfigRecord, withData: boolean): ConfigView {
  return {
    id: c.id,
    name: c.name,
    size: c.size,
    labels: c.labels,
    usedBy: usersOf(store, 'config', c.name),
    createdAt: new Date(c.createdAt).toISOString(),
    ...(withData ? { data: c.data } : {}),
  };
}

export function sortByName<T extends { name: string }>(items: T[]): T[] {
  return items.sort((a, b) => a.name.localeCompare(b.name));
}

/** By exact id, exact name, then unique id prefix. */
export function findByRef<T extends { id: string; name: string }>(
  items: T[],
  ref: string,
  kind: string,
): T {
  const exact = items.find((i) => i.id === ref) ?? items.find((i) => i.name === ref);
  if (exact) return exact;
  const prefixed = items.filter((i) => i.id.startsWith(ref));
  if (prefixed.length === 1 && prefixed[0]) return prefixed[0];
  if (prefixed.length > 1)
    throw new FleetError(
      'conflict',
      `${kind} ${ref} is ambiguous: ${prefixed.length} ids start with it`,
    );
  throw notFound(`${kind} ${ref}`);
}
