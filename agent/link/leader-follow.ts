// Paces the agent's moves to the leader: at most one a second, backing off while the leader is unreachable.
import { leaderElsewhere } from '../../shared/leader.js';
import type { LeaderInfo } from '../../shared/protocol.js';

/** Two leadership changes within this time move the agent once: no flapping between managers. */
export const MIN_SWITCH_INTERVAL_MS = 1_000;
/** The longest pause between attempts to reach a leader the agent cannot connect to. */
export const MAX_SWITCH_BACKOFF_MS = 30_000;

export class LeaderFollower {
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private failures = 0;

  /** The address to move to, given `info` from the manager at `connectedTo`; null to stay. */
  target(info: LeaderInfo | null, connectedTo: string | null): string | null {
    if (!info || !connectedTo) return null;
    return leaderElsewhere(info, connectedTo);
  }

  /** How long to wait before the next attempt may start (0: now). */
  delay(now: number): number {
    const pause = Math.min(MIN_SWITCH_INTERVAL_MS * 2 ** this.failures, MAX_SWITCH_BACKOFF_MS);
    return Math.max(0, this.lastAttemptAt + pause - now);
  }

  started(now: number): void {
    this.lastAttemptAt = now;
  }

  /** The leader could not be reached: the next attempt waits twice as long, up to the cap. */
  failed(): void {
    this.failures = Math.min(this.failures + 1, 10);
  }

  succeeded(): void {
    this.failures = 0;
  }
}
