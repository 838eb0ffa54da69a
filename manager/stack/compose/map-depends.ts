// depends_on: each dependency with its condition, unknown services and cycles refused.
import type { Dependency, DependencyCondition } from '../../../shared/spec.js';
import type { MapContext } from './context.js';
import { isMapping, type Mapping, text } from './locator.js';

export function mapDepends(
  ctx: MapContext,
  svc: Mapping,
  name: string,
  services: Mapping,
): Dependency[] {
  const d = svc.depends_on;
  const entries: [string, DependencyCondition, object, string | number][] = [];
  if (Array.isArray(d)) d.forEach((dep, i) => entries.push([text(dep), 'service_started', d, i]));
  else if (isMapping(d))
    for (const [dep, v] of Object.entries(d)) {
      const c = isMapping(v) && typeof v.condition === 'string' ? v.condition : 'service_started';
      entries.push([dep, c as DependencyCondition, d, dep]);
    }
  const out: Dependency[] = [];
  for (const [dep, condition, parent, key] of entries) {
    if (!(dep in services))
      ctx.problem(
        parent,
        key,
        `service "${name}": depends_on names "${dep}", which is not a service of the file`,
      );
    else if (dep === name) ctx.problem(parent, key, `service "${name}": depends on itself`);
    else out.push({ service: ctx.scoped(dep), condition });
  }
  return out;
}

/** Each cycle once, as the services in order: web → worker → web. */
export function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  const stack: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === 'open') cycles.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return cycles;
}
