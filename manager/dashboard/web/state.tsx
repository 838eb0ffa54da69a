// The page's copy of the cluster: rows by id, updated from the feed's snapshot and diffs, with short histories for plots.
import type { NodeRow, RowDiff, SeriesSample, ServiceRow, Snapshot } from './feed-client.js';

/** Plot points kept in the page (ten minutes at one a second). */
const SERIES_KEPT = 600;
/** CPU and temperature points kept per node, for the selected node's plot. */
const NODE_POINTS_KEPT = 120;

export interface NodePoint {
  t: number;
  cpu: number | null;
  temp: number | null;
}

export class ClusterState {
  readonly nodes = new Map<string, NodeRow>();
  readonly services = new Map<string, ServiceRow>();
  readonly series: SeriesSample[] = [];
  readonly nodeHistory = new Map<string, NodePoint[]>();
  /** Bumped on every change: components compare it to know they must draw again. */
  version = 0;
  private readonly listeners = new Set<() => void>();

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  applySnapshot(s: Snapshot): void {
    this.nodes.clear();
    this.services.clear();
    const now = Date.now();
    for (const n of s.nodes) this.putNode(n, now);
    for (const r of s.services) this.services.set(r.id, r);
    this.series.splice(0, this.series.length, ...s.series.slice(-SERIES_KEPT));
    // For profiling a page load: when the first whole picture arrived.
    performance.mark('fleet-snapshot');
    this.changed();
  }

  applyDiff(d: { nodes: RowDiff<NodeRow>; services: RowDiff<ServiceRow> }): void {
    const now = Date.now();
    for (const n of d.nodes.put) this.putNode(n, now);
    for (const id of d.nodes.del) {
      this.nodes.delete(id);
      this.nodeHistory.delete(id);
    }
    for (const r of d.services.put) this.services.set(r.id, r);
    for (const id of d.services.del) this.services.delete(id);
    this.changed();
  }

  addSample(s: SeriesSample): void {
    this.series.push(s);
    if (this.series.length > SERIES_KEPT) this.series.shift();
    this.changed();
  }

  /** Nodes sorted by name, those in trouble first when asked. */
  sortedNodes(troubleFirst: boolean): NodeRow[] {
    const rows = [...this.nodes.values()];
    const rank = (n: NodeRow): number => (troubleFirst && n.status !== 'ready' ? 0 : 1);
    return rows.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  }

  private putNode(n: NodeRow, now: number): void {
    const old = this.nodes.get(n.id);
    this.nodes.set(n.id, n);
    if (n.cpu === null && n.temp === null) return;
    if (old && old.cpu === n.cpu && old.temp === n.temp) return;
    const h = this.nodeHistory.get(n.id) ?? [];
    h.push({ t: now, cpu: n.cpu, temp: n.temp });
    if (h.length > NODE_POINTS_KEPT) h.shift();
    this.nodeHistory.set(n.id, h);
  }

  private changed(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }
}
