// Turns a merged, validated Compose tree into fleet's StackPlan: one ServiceSpec per service, and the stack's networks, secrets and configs.
import { STACK_LABEL, dnsNameSchema } from '../../../shared/network.js';
import { serviceSpecSchema, type ServiceSpec } from '../../../shared/spec.js';
import { stackPlanSchema, type StackPlan } from '../../../shared/stack.js';
import type { MapContext } from './context.js';
import { isMapping, type Mapping } from './locator.js';
import { findCycles, mapDepends } from './map-depends.js';
import { mapDeploy, type SpecInput } from './map-deploy.js';
import { mapFileRefs, mapFiles } from './map-files.js';
import { mapHost } from './map-host.js';
import { mapMounts } from './map-mounts.js';
import { mapAttachments, mapNetworks } from './map-networks.js';
import { mapExpose, mapPorts } from './map-ports.js';
import { mapProcess, type TaskInput } from './map-process.js';

interface Used {
  networks: Set<string>;
  secrets: Set<string>;
  configs: Set<string>;
}

/** The plan, or null when a problem was found (they are in ctx.problems). */
export function buildPlan(ctx: MapContext, compose: string): StackPlan | null {
  const services = isMapping(ctx.root.services) ? ctx.root.services : {};
  const used: Used = { networks: new Set(), secrets: new Set(), configs: new Set() };
  const specs: ServiceSpec[] = [];
  for (const [name, svc] of Object.entries(services)) {
    if (!isMapping(svc)) continue;
    const spec = mapService(ctx, svc, name, services, used);
    if (spec) specs.push(spec);
  }
  checkCycles(ctx, services);
  checkPublished(ctx, services, specs);
  const plan = {
    name: ctx.stack,
    services: specs,
    networks: mapNetworks(ctx, used.networks),
    secrets: mapFiles(ctx, 'secrets', used.secrets),
    configs: mapFiles(ctx, 'configs', used.configs),
    compose,
  };
  if (ctx.problems.count > 0) return null;
  const r = stackPlanSchema.safeParse(plan);
  if (!r.success) {
    for (const issue of r.error.issues)
      ctx.problems.add(ctx.at(ctx.root), `${issue.path.join('.')}: ${issue.message}`);
    return null;
  }
  return r.data;
}

function mapService(
  ctx: MapContext,
  svc: Mapping,
  name: string,
  all: Mapping,
  used: Used,
): ServiceSpec | null {
  const before = ctx.problems.count;
  const where = ctx.at(all, name);
  const fullName = ctx.scoped(name);
  if (!dnsNameSchema.safeParse(name).success || !/^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$/.test(fullName))
    ctx.problems.add(
      where,
      `service "${name}": the name ${fullName} must use letters, digits, "-" and "_" (63 at most)`,
    );
  if (typeof svc.image !== 'string' || svc.image === '') {
    const why =
      svc.build !== undefined
        ? 'has build: but no image: fleet does not build images; build and push it, then name it in image:'
        : 'has no image:';
    ctx.problems.add(where, `service "${name}" ${why}`);
  }
  const deploy = mapDeploy(ctx, svc, name);
  const task: TaskInput = {
    image: typeof svc.image === 'string' ? svc.image : '',
    ...mapProcess(ctx, svc, name),
    ...mapHost(ctx, svc, name),
    ...deploy.task,
    ports: mapPorts(ctx, svc, name),
    secrets: mapFileRefs(ctx, svc, 'secrets', name, used.secrets),
    configs: mapFileRefs(ctx, svc, 'configs', name, used.configs),
    networks: mapAttachments(ctx, svc, name, used.networks),
  };
  const mounts = mapMounts(ctx, svc, name);
  if (mounts.length > 0) task.mounts = mounts;
  const expose = mapExpose(ctx, svc, name);
  if (expose.length > 0) task.expose = expose;
  const spec: SpecInput = {
    name: fullName,
    ...deploy.spec,
    labels: { ...deploy.spec.labels, [STACK_LABEL]: ctx.stack },
    task,
  };
  const deps = mapDepends(ctx, svc, name, all);
  if (deps.length > 0) spec.dependsOn = deps;
  if (ctx.problems.count > before) return null;
  const r = serviceSpecSchema.safeParse(spec);
  if (r.success) return r.data;
  for (const issue of r.error.issues)
    ctx.problems.add(where, `service "${name}": ${issue.path.join('.')}: ${issue.message}`);
  return null;
}

function checkCycles(ctx: MapContext, services: Mapping): void {
  const graph = new Map<string, string[]>();
  for (const [name, svc] of Object.entries(services)) {
    const d = isMapping(svc) ? svc.depends_on : undefined;
    const deps = Array.isArray(d) ? d.map(String) : isMapping(d) ? Object.keys(d) : [];
    graph.set(
      name,
      deps.filter((x) => x in services && x !== name),
    );
  }
  for (const cycle of findCycles(graph)) {
    const first = cycle[0] ?? '';
    const svc = services[first];
    ctx.problems.add(
      isMapping(svc)
        ? (ctx.at(svc, 'depends_on') ?? ctx.at(services, first))
        : ctx.at(services, first),
      `depends_on makes a cycle: ${cycle.join(' → ')}`,
    );
  }
}

/** Two ingress ports with the same published port and protocol cannot both be routed. */
function checkPublished(ctx: MapContext, services: Mapping, specs: readonly ServiceSpec[]): void {
  const seen = new Map<string, string>();
  for (const spec of specs) {
    const short = spec.name.slice(ctx.stack.length + 1);
    for (const p of spec.task.ports) {
      if (p.mode !== 'ingress' || p.published === undefined) continue;
      const key = `${p.published}/${p.protocol}`;
      const other = seen.get(key);
      const svc = services[short];
      if (other !== undefined)
        ctx.problems.add(
          isMapping(svc) ? ctx.at(svc, 'ports') : undefined,
          `service "${short}": port ${key} is already published by service "${other}"`,
        );
      else seen.set(key, short);
    }
  }
}
