// Runs the filters over the nodes and explains, in one line, why none fit.
import type { NodeRecord, PlacementPref } from '../../shared/spec.js';
import { availabilityFilter, constraintFilter, readyFilter } from './filters/basic.js';
import { hostPortFilter, maxPerNodeFilter, resourcesFilter } from './filters/capacity.js';
import { devicesFilter } from './filters/devices.js';
import type { Filter, FilterContext, NodeLoad } from './filters/types.js';
import { pickSpread, type Candidate } from './spread.js';

export const DEFAULT_FILTERS: readonly Filter[] = [
  readyFilter,
  availabilityFilter,
  constraintFilter,
  devicesFilter,
  resourcesFilter,
  hostPortFilter,
  maxPerNodeFilter,
];

const NO_NODES: ReadonlySet<string> = new Set();

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
  return new Placer(nodes, loadOf, filters).place(base);
}

/**
 * Places many tasks against one snapshot of the nodes, as a scheduling pass does. The leading
 * static filters (ready, availability, constraints) are asked once per service and node, not
 * once per task and node: placing 2,000 replicas on 2,000 boards went from 15 s of blocked
 * event loop, long enough for every node to miss its heartbeats, to well under a second.
 * Loads may change between calls (the caller records each placement); nodes may not.
 */
export class Placer {
  private readonly nodes: NodeRecord[];
  private readonly head: readonly Filter[];
  private readonly tail: readonly Filter[];
  private readonly staticVerdicts = new Map<FilterContext['service'], (string | null)[]>();
  /** Per service: every node before this index is ruled out statically or already has tasks. */
  private readonly firstOpen = new Map<FilterContext['service'], number>();
  /** Per service and spec version: the refusal of a task no node took in this pass. */
  private readonly refusals = new Map<string, Placement>();

  constructor(
    nodes: Iterable<NodeRecord>,
    private readonly loadOf: (nodeId: string) => NodeLoad,
    filters = DEFAULT_FILTERS,
  ) {
    this.nodes = [...nodes];
    let split = 0;
    while (split < filters.length && filters[split]?.static) split++;
    this.head = filters.slice(0, split);
    this.tail = filters.slice(split);
  }

  /**
   * `avoid` holds nodes that recently refused this service's tasks (say, a full disk): they are
   * chosen only when no other node fits, so a task pinned to one still gets retried there.
   */
  place(
    base: Omit<FilterContext, 'node' | 'load'>,
    avoid: ReadonlySet<string> = NO_NODES,
  ): Placement {
    const verdicts = this.verdictsFor(base);
    // Loads only grow while a pass places tasks, and filters only get stricter as they grow:
    // a task of a spec that found no node leaves the others of that spec without one too.
    const specKey = `${base.task.serviceId}:${base.task.specVersion}`;
    const refused = this.refusals.get(specKey);
    if (refused) return refused;
    const prefs = base.service?.spec.placementPrefs ?? [];
    if (prefs.length === 0) {
      const empty = this.firstEmptyFit(base, verdicts, avoid);
      if (empty) return { ok: true, node: empty };
    }
    const placed = this.scan(base, verdicts, avoid, prefs);
    if (!placed.ok) this.refusals.set(specKey, placed);
    return placed;
  }

  /**
   * An empty node that fits, found from where the last search stopped: placing N replicas on
   * N empty boards is then linear instead of N²/2 node checks (10,000 boards blocked the
   * manager for tens of seconds). An empty node beats any other, so it is the placer's answer.
   */
  private firstEmptyFit(
    base: Omit<FilterContext, 'node' | 'load'>,
    verdicts: (string | null)[],
    avoid: ReadonlySet<string>,
  ): NodeRecord | undefined {
    let i = this.firstOpen.get(base.service) ?? 0;
    const closed = (k: number): boolean =>
      (verdicts[k] ?? null) !== null ||
      this.loadOf((this.nodes[k] as NodeRecord).id).tasks.length > 0;
    while (i < this.nodes.length && closed(i)) i++;
    this.firstOpen.set(base.service, i);
    for (let k = i; k < this.nodes.length; k++) {
      const node = this.nodes[k] as NodeRecord;
      if (closed(k) || avoid.has(node.id)) continue;
      const load = this.loadOf(node.id);
      if (rejectReason({ task: base.task, service: base.service, node, load }, this.tail) === null)
        return node;
      return undefined; // an empty node that does not fit: the full scan weighs the rest
    }
    return undefined;
  }

  /** Every node weighed: fewest tasks of the service, then fewest overall, or the spread. */
  private scan(
    base: Omit<FilterContext, 'node' | 'load'>,
    verdicts: (string | null)[],
    avoid: ReadonlySet<string>,
    prefs: readonly PlacementPref[],
  ): Placement {
    type Pick = { node: NodeRecord; same: number; total: number };
    let best: Pick | undefined;
    let fallback: Pick | undefined;
    const better = (a: Pick, b: Pick | undefined): boolean =>
      !b || a.same < b.same || (a.same === b.same && a.total < b.total);
    const misses = new Map<string, number>();
    // With placement preferences every fitting node is weighed (pickSpread), not the first empty one.
    const fitting: Candidate[] = [];
    const fallbacks: Candidate[] = [];
    for (let i = 0; i < this.nodes.length; i++) {
      const node = this.nodes[i] as NodeRecord;
      let reason = verdicts[i] ?? null;
      const load = reason ? undefined : this.loadOf(node.id);
      if (load)
        reason = rejectReason({ task: base.task, service: base.service, node, load }, this.tail);
      if (reason || !load) {
        if (reason) misses.set(reason, (misses.get(reason) ?? 0) + 1);
        continue;
      }
      let same = 0;
      for (const t of load.tasks) if (t.serviceId === base.task.serviceId) same++;
      const pick = { node, same, total: load.tasks.length };
      if (prefs.length > 0) {
        (avoid.has(node.id) ? fallbacks : fitting).push(pick);
      } else if (avoid.has(node.id)) {
        if (better(pick, fallback)) fallback = pick;
      } else if (better(pick, best)) {
        best = pick;
        if (pick.total === 0) break; // an empty node cannot be beaten, only tied
      }
    }
    const chosen =
      prefs.length > 0
        ? (pickSpread(fitting, prefs) ?? pickSpread(fallbacks, prefs))
        : (best ?? fallback);
    if (chosen) return { ok: true, node: chosen.node };
    if (this.nodes.length === 0)
      return { ok: false, reason: 'no suitable node: the cluster has no nodes' };
    return { ok: false, reason: 'no suitable node: ' + explain(misses) };
  }

  /** The first static filter's reason per node (null: passed them all), once per service. */
  private verdictsFor(base: Omit<FilterContext, 'node' | 'load'>): (string | null)[] {
    let v = this.staticVerdicts.get(base.service);
    if (!v) {
      const none: NodeLoad = { tasks: [] };
      v = this.nodes.map((node) =>
        rejectReason({ task: base.task, service: base.service, node, load: none }, this.head),
      );
      this.staticVerdicts.set(base.service, v);
    }
    return v;
  }
}

export function explain(misses: Map<string, number>): string {
  return [...misses.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${n} node${n === 1 ? '' : 's'} ${reason}`)
    .join('; ');
}
