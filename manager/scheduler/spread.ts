// Placement preferences: among the nodes that fit, the one whose label value has the fewest of the service's tasks.
import type { NodeRecord, PlacementPref } from '../../shared/spec.js';

/** A node that passed the filters, with how many tasks it runs of this service and in all. */
export interface Candidate {
  node: NodeRecord;
  same: number;
  total: number;
}

/**
 * As Swarm's spread: for each preference in order, the tasks of the service are counted per
 * value of the label over the candidates (nodes without the label form one group of their
 * own), and the node in the emptiest group wins; ties fall to the next preference, then to
 * fewest tasks of the service on the node, then fewest tasks overall.
 */
export function pickSpread(
  candidates: readonly Candidate[],
  prefs: readonly PlacementPref[],
): Candidate | undefined {
  const keys = prefs.map((p) => p.spread.slice('node.labels.'.length));
  const groupCounts = keys.map((key) => {
    const counts = new Map<string, number>();
    for (const c of candidates) {
      const v = groupOf(c.node, key);
      counts.set(v, (counts.get(v) ?? 0) + c.same);
    }
    return counts;
  });
  const score = (c: Candidate): number[] => [
    ...keys.map((key, i) => groupCounts[i]?.get(groupOf(c.node, key)) ?? 0),
    c.same,
    c.total,
  ];
  let best: { c: Candidate; s: number[] } | undefined;
  for (const c of candidates) {
    const s = score(c);
    if (!best || lessThan(s, best.s)) best = { c, s };
  }
  return best?.c;
}

/** The label's value; the NUL prefix keeps "no label" apart from any value. */
const groupOf = (node: NodeRecord, key: string): string =>
  Object.prototype.hasOwnProperty.call(node.labels, key) ? `=${node.labels[key]}` : '\0';

function lessThan(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y;
  }
  return false;
}
