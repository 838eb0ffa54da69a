// The API's methods: each reads the store and returns its answer plus the commands that make it true.
import type { Method, ParsedParams } from '../../shared/api.js';
import { FleetError, alreadyExists } from '../../shared/errors.js';
import { fingerprint, makeJoinToken, randomId } from '../../shared/identity.js';
import {
  mergeHealthcheck,
  type FileRef,
  type ServiceRecord,
  type ServiceSpec,
} from '../../shared/spec.js';
import { mergeUpdateConfig } from '../../shared/update-config.js';
import type { StoreView } from '../store/store.js';
import type { Handler } from './context.js';
import { checkFileRefs, fileHandlers } from './file-handlers.js';
import { stackHandlers } from './stack-handlers.js';
import { imageHandlers, withDownloads } from './image-handlers.js';
import { releaseHandlers } from './release-handlers.js';
import { upgradeHandlers } from './upgrade-handlers.js';
import { dashboardHandlers } from './dashboard-handlers.js';
import { bundleHandlers } from './bundle-handlers.js';
import { eventHandlers } from './event-handlers.js';
import { chaosStub } from './chaos-handler.js';
import { checkNetworks, networkHandlers } from './network-handlers.js';
import { checkSpec, sealedAuth, withSpec } from './service-versions.js';
import { findNode, findService } from './lookup.js';
import { publishPorts, removePorts } from './ports.js';
import { applyOptionsChange } from './options-update.js';
import { checkManagerRemoval, managerList, nodeTasks, setManagerRole } from './manager-handlers.js';
import { rolledBack } from '../updater/plan.js';
import { removalOf } from '../orchestrator/tasks.js';
import { nodeView, serviceDetail, serviceTasks, serviceView } from './views.js';
import { withNodeUsage, withTaskUsage } from './usage-views.js';
import { withLinkUpdate } from '../../shared/link-profile.js';

export type { HandlerContext, Outcome } from './context.js';

type Handlers = { [M in Method]: Handler<M> };

export const handlers: Handlers = {
  'cluster.info': (_p, { store, managerId }) => {
    const c = requireCluster(store);
    return {
      result: {
        clusterId: c.id,
        managerId,
        rootFingerprint: fingerprint(c.rootPub),
        heartbeatMs: c.heartbeatMs,
      },
    };
  },
  'jointoken.get': (p, { store }) => {
    const c = requireCluster(store);
    if (!p.rotate)
      return {
        result: { role: p.role, token: p.role === 'worker' ? c.workerToken : c.managerToken },
      };
    const token = makeJoinToken(c.rootPub);
    const workerToken = p.role === 'worker' ? token : c.workerToken;
    const managerToken = p.role === 'manager' ? token : c.managerToken;
    return {
      result: { role: p.role, token },
      commands: [{ type: 'cluster.tokens', workerToken, managerToken }],
    };
  },
  'node.ls': (_p, { store, raft }) => ({
    result: [...store.nodes()]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((n) => nodeView(store, n, raft)),
  }),
  'node.inspect': (p, { store, raft, usage }) => ({
    result: withNodeUsage(nodeView(store, findNode(store, p.node), raft), usage),
  }),
  'node.ps': (p, { store }) => ({ result: nodeTasks(store, p.nodes) }),
  'node.promote': (p, ctx) => setManagerRole(p.node, 'manager', ctx),
  'node.demote': (p, ctx) => setManagerRole(p.node, 'worker', ctx),
  'manager.ls': (_p, { store, raft }) => ({ result: managerList(store, raft) }),
  'node.update': (p, { store, now }) => {
    const n = findNode(store, p.node);
    const labels = { ...n.labels, ...p.labelAdd };
    for (const k of p.labelRm) delete labels[k];
    const availability = p.availability ?? n.availability;
    const next = { ...withLinkUpdate(n, p), labels, availability, updatedAt: now };
    return { result: nodeView(store, next), commands: [{ type: 'node.put', node: next }] };
  },
  'node.rm': (p, { store, raft }) => {
    const n = findNode(store, p.node);
    if (n.manager) {
      checkManagerRemoval(store, n, raft, p.force);
      return { result: { id: n.id }, commands: [{ type: 'node.remove', id: n.id }] };
    }
    if (n.status === 'ready' && !p.force) {
      throw new FleetError(
        'conflict',
        `node ${n.name} is ready; drain it and stop its agent first, or use --force`,
      );
    }
    return { result: { id: n.id }, commands: [{ type: 'node.remove', id: n.id }] };
  },
  'service.create': (p, { store, now, dataKey }) => {
    if (store.serviceByName(p.spec.name)) throw alreadyExists(`service ${p.spec.name}`);
    checkSpec(p.spec);
    checkFileRefs(store, p.spec);
    checkNetworks(store, p.spec);
    const id = randomId();
    const service: ServiceRecord = {
      id,
      spec: publishPorts(store, p.spec, id),
      specVersion: 1,
      createdAt: now,
      updatedAt: now,
      ...sealedAuth(dataKey, p.registryAuth),
    };
    return { result: serviceDetail(store, service), commands: [{ type: 'service.put', service }] };
  },
  'service.ls': (_p, { store }) => ({
    result: [...store.services()]
      .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
      .map((s) => serviceView(store, s)),
  }),
  'service.inspect': (p, { store, ingressStats }) => ({
    result: serviceDetail(store, findService(store, p.service), ingressStats),
  }),
  'service.ps': (p, { store, imagePresence, usage }) => {
    const service = findService(store, p.service);
    const tasks = withTaskUsage(serviceTasks(store, service, p.all), usage);
    return { result: imagePresence ? withDownloads(store, imagePresence, service, tasks) : tasks };
  },
  'service.update': (p, { store, now, dataKey }) => {
    const found = findService(store, p.service);
    const s = { ...found, ...sealedAuth(dataKey, p.registryAuth) };
    const edited = updatedSpec(s.spec, p);
    checkSpec(edited);
    checkFileRefs(store, edited);
    checkNetworks(store, edited);
    const spec = publishPorts(store, edited, s.id);
    const next = withSpec(s, spec, now, {
      force: p.force,
      replicasGiven: p.replicas !== undefined,
    });
    return {
      result: serviceDetail(store, next),
      commands: [{ type: 'service.put', service: next }],
    };
  },
  'service.rollback': (p, { store, now }) => {
    const s = findService(store, p.service);
    if (!s.previousSpec)
      throw new FleetError(
        'conflict',
        `service ${s.spec.name} has no previous spec to roll back to`,
      );
    if (s.updateStatus?.state === 'rolling back')
      throw new FleetError('conflict', `service ${s.spec.name} is already rolling back`);
    const next = rolledBack(s, now, 'requested by "fleet service rollback"');
    return {
      result: serviceDetail(store, next),
      commands: [{ type: 'service.put', service: next }],
    };
  },
  'service.promote': (p, { store, now }) => {
    const s = findService(store, p.service);
    const u = s.updateStatus;
    const waiting =
      u && u.kind === 'update' && !u.promoted && (u.state === 'canary' || u.state === 'updating');
    if (!u || !waiting)
      throw new FleetError(
        'conflict',
        `service ${s.spec.name} has no canaries waiting for promotion`,
      );
    const next: ServiceRecord = {
      ...s,
      updateStatus: { ...u, state: 'updating', promoted: true, message: 'canaries promoted' },
      updatedAt: now,
    };
    return {
      result: serviceDetail(store, next),
      commands: [{ type: 'service.put', service: next }],
    };
  },
  'service.rm': (p, { store, now }) => {
    const s = findService(store, p.service);
    return {
      result: { id: s.id },
      commands: [
        { type: 'service.remove', id: s.id },
        ...removalOf(store.tasksOfService(s.id), now),
      ],
    };
  },
  ...fileHandlers,
  ...stackHandlers,
  ...networkHandlers,
  ...imageHandlers,
  ...releaseHandlers,
  ...upgradeHandlers,
  ...dashboardHandlers,
  ...bundleHandlers,
  ...eventHandlers,
  ...chaosStub,
};

function requireCluster(store: StoreView): NonNullable<ReturnType<StoreView['cluster']>> {
  const c = store.cluster();
  if (!c) throw new FleetError('unavailable', 'cluster is not initialised');
  return c;
}

function updatedSpec(spec: ServiceSpec, p: ParsedParams<'service.update'>): ServiceSpec {
  return applyOptionsChange(updatedBasics(spec, p), p.options);
}

function updatedBasics(spec: ServiceSpec, p: ParsedParams<'service.update'>): ServiceSpec {
  const { entrypoint, ...task } = spec.task;
  const env = { ...spec.task.env, ...p.envAdd };
  for (const k of p.envRm) delete env[k];
  const constraints = spec.constraints.filter((c) => !p.constraintRm.includes(c));
  for (const c of p.constraintAdd) if (!constraints.includes(c)) constraints.push(c);
  return {
    ...spec,
    replicas: p.replicas ?? spec.replicas,
    constraints,
    task: {
      ...task,
      image: p.image ?? spec.task.image,
      command: p.command ?? spec.task.command,
      env,
      secrets: updatedRefs(spec.task.secrets, p.secretRm, p.secretAdd),
      configs: updatedRefs(spec.task.configs, p.configRm, p.configAdd),
      ports: [...removePorts(spec.task.ports, p.publishRm), ...p.publishAdd],
      stopGracePeriodMs: p.stopGracePeriodMs ?? spec.task.stopGracePeriodMs,
      ...optional('drainTimeoutMs', p.drainTimeoutMs ?? spec.task.drainTimeoutMs),
      ...optional('init', p.init ?? spec.task.init),
      ...optional('healthcheck', mergeHealthcheck(spec.task.healthcheck, p.healthcheck)),
      ...entrypointAfter(entrypoint, p.entrypoint),
    },
    ...optional('update', mergeUpdateConfig(spec.update, p.update)),
    ...optional('rollback', mergeUpdateConfig(spec.rollback, p.rollback)),
  };
}

/** An update's entrypoint: unchanged when not given, the image's own again when given empty. */
function entrypointAfter(old: string[] | undefined, change: string[] | undefined) {
  const next = change === undefined ? old : change.length > 0 ? change : undefined;
  return optional('entrypoint', next);
}

/** { key: value }, or nothing when the value is undefined (keeps specs free of undefined). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}

/** Removes refs by name, then adds; an added ref replaces one at the same target (rotation). */
function updatedRefs(refs: FileRef[], rm: string[], add: FileRef[]): FileRef[] {
  const out = refs.filter((r) => !rm.includes(r.name));
  for (const a of add) {
    const i = out.findIndex((r) => r.target === a.target);
    if (i >= 0) out[i] = a;
    else out.push(a);
  }
  return out;
}
