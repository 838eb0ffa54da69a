// Majority math over the voters: the committed index and election outcomes.
import type { NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/** The largest index replicated on a majority of voters (0 with no voters). */
export function committedIndex(voters: NodeId[], match: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const m = voters.map(match).sort((a, b) => b - a);
  return m[majority(voters.length) - 1] ?? 0;
}

export function voteResult(voters: NodeId[], votes: Map<NodeId, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const g = votes.get(v);
    if (g === true) granted++;
    else if (g === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}

/** Whether `acks` holds a majority of voters. */
export function hasQuorum(voters: NodeId[], acks: Set<NodeId>): boolean {
  let n = 0;
  for (const v of voters) if (acks.has(v)) n++;
  return voters.length > 0 && n >= majority(voters.length);
}
