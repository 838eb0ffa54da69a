// Runs the filters over the nodes and explains, in one line, why none fit.
import type { NodeRecord } from '../../shared/spec.js';
import { availabilityFilter, constraintFilter, readyFilter } from './filters/basic.js';
import { hostPortFilter, maxPerNodeFilter, resourcesFilter } from './filters/capacity.js';
import type { Filter, FilterContext, NodeLoad } from './filters/types.js';

export const DEFAULT_FILTERS: readonly Filter[] = [
  readyFilter,
  availabilityFilter,
  constraintFilter,
  resourcesFilter,
  hostPortFilter,
  maxPerNodeFilter,
];

export type Placement = { ok: true; node: NodeRecord } | { ok: false; reason: string };

/** First reason the node is rejected, or null when it fits. */
export function rejectReason(ctx: FilterContext, filters = DEFAULT_FILTERS): string | null {
  for (const f of filters) {
    const r = f.check(ctx);
    if (r) return r;
  }
  return null;
}

/** Picks the fitting node that spreads best: fewest tasks of this service, then fewest overall. */
export function place(
  base: Omit<FilterContext, 'node' | 'load'>,
  nodes: Iterable<NodeRecord>,
  loadOf: (nodeId: string) => NodeLoad,
  filters = DEFAULT_FILTERS,
): Placement {
  let best: { node: NodeRecord; same: number; total: number } | undefined;
  const misses = new Map<string, number>();
  let seen = 0;
  for (const node of nodes) {
    seen++;
    const load = loadOf(node.id);
    const reason = rejectReason({ ...base, node, load }, filters);
    if (reason) {
      misses.set(reason, (misses.get(reason) ?? 0) + 1);
      continue;
    }
    const same = load.tasks.filter((t) => t.serviceId === base.task.serviceId).length;
    const total = load.tasks.length;
    if (!best || same < best.same || (same === best.same && total < best.total)) {
      best = { node, same, total };
    }
  }
  if (best) return { ok: true, node: best.node };
  if (seen === 0) return { ok: false, reason: 'no suitable node: the cluster has no nodes' };
  return { ok: false, reason: 'no suitable node: ' + explain(misses) };
}

export function explain(misses: Map<string, number>): string {
  return [...misses.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${n} node${n === 1 ? '' : 's'} ${reason}`)
    .join('; ');
}
