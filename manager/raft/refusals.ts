// How the Raft host words what it refuses: not the leader, no quorum, too busy, a commit not in time.
import { FleetError } from '../../shared/errors.js';
import type { RefusalReason } from './core/index.js';

/** Managers this one can reach now (itself included), and how many vote. */
export interface Reach {
  reachable: number;
  voters: number;
}

/** A refusal from a follower, naming the leader (by id) when it knows one. */
export class NotLeader extends FleetError {
  constructor(
    message: string,
    readonly leader: string | null,
  ) {
    super('not_leader', message);
  }
}

export const hasQuorum = (r: Reach): boolean => r.reachable * 2 > r.voters;

/** "no quorum: 1 of 3 managers reachable", for errors and stale-read warnings. */
export const quorumText = (r: Reach): string =>
  `no quorum: ${r.reachable} of ${r.voters} managers reachable`;

export const noQuorum = (r: Reach, what: string): FleetError =>
  new FleetError('no_quorum', `${quorumText(r)}: ${what}`);

/** The error for a request the core refused; reach is read only when it matters. */
export function refusal(
  reason: RefusalReason,
  leader: string | null,
  reach: () => Reach,
  text?: string,
): FleetError {
  if (reason === 'not-leader' || reason === 'transferring-leadership') {
    if (leader === null) {
      const r = reach();
      if (!hasQuorum(r)) return noQuorum(r, 'the request was not served');
      return new NotLeader(text ?? 'no leader yet: an election is running; retry shortly', null);
    }
    return new NotLeader(text ?? `this manager does not lead; the leader is ${leader}`, leader);
  }
  if (reason === 'too-much-uncommitted')
    return new FleetError('unavailable', 'too many writes are waiting to commit; retry shortly');
  if (reason === 'conf-change-pending')
    return new FleetError(
      'conflict',
      'another membership change is still being applied; retry shortly',
    );
  return new FleetError('unavailable', `refused: ${reason}`);
}

/** The error for a write that did not commit within its deadline. */
export function commitTimeout(r: Reach): FleetError {
  if (!hasQuorum(r)) return noQuorum(r, 'the write may not have been applied');
  return new FleetError(
    'unavailable',
    'the write did not commit in time; it may still be applied: retry with the same request',
  );
}
