// The Raft group as the upgrade wave judges managers by: voters, and which are in touch and caught up with the leader.
import type { RaftView } from '../api/views.js';
import type { RaftHealth } from './plan.js';

/** A voter whose log is at most this many entries behind the leader's applied index has caught up. */
export const CATCH_UP_ENTRIES = 20;

/** Health of the voters from the leader's view: reachable, a voter, and caught up. */
export function raftHealth(
  view: RaftView,
  voters: readonly string[],
  leaderApplied: number,
): RaftHealth {
  return {
    voters,
    healthy: (id) => {
      const match = view.appliedIndex(id);
      return (
        view.raftRole(id) === 'voter' &&
        view.reachable(id) &&
        match !== null &&
        leaderApplied - match <= CATCH_UP_ENTRIES
      );
    },
  };
}
