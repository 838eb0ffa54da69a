// What each command does, as records of one kind put or removed (or the cluster record replaced).
import { assertNever } from '../../shared/errors.js';
import type { ClusterRecord, Command } from './commands.js';
import type { KindName, RecordOf } from './kinds.js';

export type Effect =
  | { kind: 'cluster'; next(cur: ClusterRecord | undefined): ClusterRecord }
  | { [K in KindName]: { kind: K; put: RecordOf<K>[] } | { kind: K; remove: string[] } }[KindName];

/** The effect of a command; a command type added without a case here fails to compile. */
export function effectOf(c: Command): Effect {
  switch (c.type) {
    case 'cluster.init':
      return { kind: 'cluster', next: () => c.cluster };
    case 'cluster.tokens':
      return {
        kind: 'cluster',
        next(cur) {
          if (!cur) throw new Error('invariant: cluster.tokens before cluster.init');
          return { ...cur, workerToken: c.workerToken, managerToken: c.managerToken };
        },
      };
    case 'node.put':
      return { kind: 'nodes', put: [c.node] };
    case 'node.remove':
      return { kind: 'nodes', remove: [c.id] };
    case 'service.put':
      return { kind: 'services', put: [c.service] };
    case 'service.remove':
      return { kind: 'services', remove: [c.id] };
    case 'tasks.put':
      return { kind: 'tasks', put: c.tasks };
    case 'tasks.delete':
      return { kind: 'tasks', remove: c.ids };
    case 'image.put':
      return { kind: 'images', put: [c.image] };
    case 'image.remove':
      return { kind: 'images', remove: [c.id] };
    case 'release.put':
      return { kind: 'releases', put: [c.release] };
    case 'release.remove':
      return { kind: 'releases', remove: [c.id] };
    case 'upgrade.put':
      return { kind: 'upgrades', put: [c.upgrade] };
    case 'upgrade.remove':
      return { kind: 'upgrades', remove: [c.id] };
    case 'events.put':
      return { kind: 'events', put: c.events };
    case 'events.remove':
      return { kind: 'events', remove: c.ids };
    case 'secret.put':
      return { kind: 'secrets', put: [c.secret] };
    case 'secret.remove':
      return { kind: 'secrets', remove: [c.id] };
    case 'config.put':
      return { kind: 'configs', put: [c.config] };
    case 'config.remove':
      return { kind: 'configs', remove: [c.id] };
    case 'network.put':
      return { kind: 'networks', put: [c.network] };
    case 'network.remove':
      return { kind: 'networks', remove: [c.id] };
    case 'stack.put':
      return { kind: 'stacks', put: [c.stack] };
    case 'stack.remove':
      return { kind: 'stacks', remove: [c.id] };
    case 'dashboardToken.put':
      return { kind: 'dashboardTokens', put: [c.token] };
    case 'dashboardToken.remove':
      return { kind: 'dashboardTokens', remove: [c.id] };
    default:
      return assertNever(c);
  }
}

/** The ids an effect on a kind writes or removes. */
export function idsOf(e: Exclude<Effect, { kind: 'cluster' }>): string[] {
  return 'put' in e ? e.put.map((r) => r.id) : e.remove;
}
