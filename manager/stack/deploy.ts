// A stack deploy as one proposal: the plan checked whole against the store, then only what changed is written.
import type { ParsedParams } from '../../shared/api.js';
import { FleetError, invalidArgument, notFound } from '../../shared/errors.js';
import { randomId } from '../../shared/identity.js';
import { STACK_LABEL } from '../../shared/network.js';
import type { ServiceRecord, ServiceSpec } from '../../shared/spec.js';
import type { StackDeployResult, StackRecord } from '../../shared/stack.js';
import type { HandlerContext, Outcome } from '../api/context.js';
import { checkFileRefs } from '../api/file-handlers.js';
import { checkNetworks } from '../api/network-handlers.js';
import { OverlayView } from '../api/overlay-view.js';
import { publishPorts } from '../api/ports.js';
import { checkSpec, sealedAuth, withSpec } from '../api/service-versions.js';
import { removalOf } from '../orchestrator/tasks.js';
import type { Command } from '../store/commands.js';
import { ensureFile, ensureNetwork, stackRecord } from './objects.js';

type Params = ParsedParams<'stack.deploy'>;

export function deployStack(p: Params, ctx: HandlerContext): Outcome<'stack.deploy'> {
  const { plan } = p;
  const view = new OverlayView(ctx.store);
  const old = ctx.store.stackByName(plan.name);
  const commands: Command[] = [];
  const result: StackDeployResult = {
    stack: plan.name,
    created: [],
    updated: [],
    unchanged: [],
    removed: [],
    kept: [],
    networksCreated: [],
    secretsCreated: [],
    configsCreated: [],
  };
  for (const n of plan.networks) {
    const network = ensureNetwork(view, plan.name, n, ctx.now);
    if (!network) continue;
    commands.push({ type: 'network.put', network });
    result.networksCreated.push(network.name);
  }
  for (const f of plan.secrets) {
    const rec = ensureFile(view, plan.name, 'secret', f, ctx);
    if (!rec) continue;
    const { data, ...rest } = rec;
    commands.push({ type: 'secret.put', secret: { ...rest, encrypted: data } });
    result.secretsCreated.push(rec.name);
  }
  for (const f of plan.configs) {
    const config = ensureFile(view, plan.name, 'config', f, ctx);
    if (!config) continue;
    commands.push({ type: 'config.put', config });
    result.configsCreated.push(config.name);
  }
  deployServices(p, ctx, view, commands, result);
  pruneServices(p, ctx.now, old, view, commands, result);
  commands.push({ type: 'stack.put', stack: stackRecord(plan, old, result.kept, ctx.now) });
  return { result, commands };
}

function checkServices(p: Params, view: OverlayView): void {
  const names = new Set(p.plan.services.map((s) => s.name));
  for (const spec of p.plan.services) {
    if (spec.labels[STACK_LABEL] !== p.plan.name)
      throw invalidArgument(`service ${spec.name} lacks the label ${STACK_LABEL}=${p.plan.name}`);
    checkSpec(spec);
    checkFileRefs(view, spec);
    checkNetworks(view, spec);
    for (const d of spec.dependsOn ?? [])
      if (!names.has(d.service) && !view.serviceByName(d.service))
        throw notFound(`service ${d.service}, which ${spec.name} depends on`);
  }
}

function deployServices(
  p: Params,
  ctx: HandlerContext,
  view: OverlayView,
  commands: Command[],
  result: StackDeployResult,
): void {
  checkServices(p, view);
  for (const spec of p.plan.services) {
    const current = view.serviceByName(spec.name);
    if (current && current.spec.labels[STACK_LABEL] !== p.plan.name)
      throw new FleetError(
        'conflict',
        `service ${spec.name} exists and is not part of stack ${p.plan.name}`,
      );
    const next = current
      ? updatedService(view, current, spec, ctx.now)
      : createdService(view, spec, ctx.now);
    if (!next) {
      result.unchanged.push(spec.name);
      continue;
    }
    const record = { ...next, ...sealedAuth(ctx.dataKey, p.registryAuth) };
    view.putService(record);
    commands.push({ type: 'service.put', service: record });
    (current ? result.updated : result.created).push(spec.name);
  }
}

function createdService(view: OverlayView, spec: ServiceSpec, now: number): ServiceRecord {
  const id = randomId();
  return {
    id,
    spec: publishPorts(view, spec, id),
    specVersion: 1,
    createdAt: now,
    updatedAt: now,
  };
}

/** The service after a redeploy, or null when nothing of it changed. */
function updatedService(
  view: OverlayView,
  s: ServiceRecord,
  wanted: ServiceSpec,
  now: number,
): ServiceRecord | null {
  const spec = publishPorts(view, withKeptPorts(wanted, s.spec), s.id);
  if (JSON.stringify(spec) === JSON.stringify(s.spec)) return null;
  return withSpec(s, spec, now, { replicasGiven: true });
}

/** Ingress ports published without a number keep the number they were given last time. */
function withKeptPorts(wanted: ServiceSpec, old: ServiceSpec): ServiceSpec {
  const ports = wanted.task.ports.map((p) => {
    if (p.published !== undefined || p.mode !== 'ingress') return p;
    const before = old.task.ports.find(
      (o) => o.target === p.target && o.protocol === p.protocol && o.mode === 'ingress',
    );
    return before?.published !== undefined ? { ...p, published: before.published } : p;
  });
  return { ...wanted, task: { ...wanted.task, ports } };
}

function pruneServices(
  p: Params,
  now: number,
  old: StackRecord | undefined,
  view: OverlayView,
  commands: Command[],
  result: StackDeployResult,
): void {
  const wanted = new Set(p.plan.services.map((s) => s.name));
  for (const name of old?.services ?? []) {
    if (wanted.has(name)) continue;
    const s = view.serviceByName(name);
    if (!s) continue;
    if (!p.prune) {
      result.kept.push(name);
      continue;
    }
    view.removeService(s.id);
    commands.push(
      { type: 'service.remove', id: s.id },
      ...removalOf(view.tasksOfService(s.id), now),
    );
    result.removed.push(name);
  }
}
