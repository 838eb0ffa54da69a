// The API's stack methods: deploy (manager/stack/deploy.ts), listings, and removal of everything a stack made.
import type { StackDetail, StackView } from '../../shared/api.js';
import { FleetError, notFound } from '../../shared/errors.js';
import { STACK_LABEL } from '../../shared/network.js';
import type { StackRecord } from '../../shared/stack.js';
import { removalOf } from '../orchestrator/tasks.js';
import { deployStack } from '../stack/deploy.js';
import type { Command } from '../store/commands.js';
import type { StoreView } from '../store/view.js';
import type { Handler } from './context.js';
import { servicesOn } from './network-handlers.js';
import { serviceTasks, serviceView } from './views.js';

type StackMethod =
  'stack.deploy' | 'stack.ls' | 'stack.inspect' | 'stack.services' | 'stack.ps' | 'stack.rm';

export const stackHandlers: { [M in StackMethod]: Handler<M> } = {
  'stack.deploy': deployStack,
  'stack.ls': (_p, { store }) => ({
    result: [...store.stacks()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((s) => stackView(store, s)),
  }),
  'stack.inspect': (p, { store }) => ({ result: stackDetail(store, findStack(store, p.stack)) }),
  'stack.services': (p, { store }) => {
    findStack(store, p.stack);
    return { result: servicesOf(store, p.stack).map((s) => serviceView(store, s)) };
  },
  'stack.ps': (p, { store }) => {
    findStack(store, p.stack);
    return { result: servicesOf(store, p.stack).flatMap((s) => serviceTasks(store, s, p.all)) };
  },
  'stack.rm': (p, { store, now }) => {
    const stack = findStack(store, p.stack);
    const services = servicesOf(store, stack.name);
    const commands: Command[] = [];
    for (const s of services)
      commands.push(
        { type: 'service.remove', id: s.id },
        ...removalOf(store.tasksOfService(s.id), now),
      );
    const own = new Set(services.map((s) => s.spec.name));
    for (const name of stack.networks) {
      const n = store.networkByName(name);
      if (!n) continue;
      const outside = servicesOn(store, name).filter((s) => !own.has(s));
      if (outside.length > 0)
        throw new FleetError(
          'conflict',
          `network ${name} of stack ${stack.name} is in use by ${outside.join(', ')}: remove them from it first`,
        );
      commands.push({ type: 'network.remove', id: n.id });
    }
    for (const name of stack.secrets) {
      const s = store.secretByName(name);
      if (s) commands.push({ type: 'secret.remove', id: s.id });
    }
    for (const name of stack.configs) {
      const c = store.configByName(name);
      if (c) commands.push({ type: 'config.remove', id: c.id });
    }
    commands.push({ type: 'stack.remove', id: stack.id });
    return { result: { name: stack.name, services: [...own].sort() }, commands };
  },
};

function findStack(store: StoreView, name: string): StackRecord {
  const s = store.stackByName(name);
  if (!s) throw notFound(`stack ${name}`);
  return s;
}

/** The stack's services: those labelled with its name (what `docker stack services` lists). */
function servicesOf(store: StoreView, stack: string) {
  return [...store.services()]
    .filter((s) => s.spec.labels[STACK_LABEL] === stack)
    .sort((a, b) => a.spec.name.localeCompare(b.spec.name));
}

function stackView(store: StoreView, s: StackRecord): StackView {
  return {
    name: s.name,
    services: servicesOf(store, s.name).length,
    createdAt: new Date(s.createdAt).toISOString(),
    updatedAt: new Date(s.updatedAt).toISOString(),
  };
}

function stackDetail(store: StoreView, s: StackRecord): StackDetail {
  return {
    ...stackView(store, s),
    serviceNames: servicesOf(store, s.name).map((x) => x.spec.name),
    networks: s.networks,
    secrets: s.secrets,
    configs: s.configs,
    compose: s.compose,
  };
}
