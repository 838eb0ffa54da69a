// Node liveness from heartbeats and connection events; decides ready, down and unknown.
import type { NodeStatus } from '../../shared/spec.js';

export interface HealthVerdict {
  nodeId: string;
  status: NodeStatus;
  message: string;
}

/**
 * Tracks when each node was last heard from. A node is down after `missedBeats` periods of
 * silence, or one period after its connection dropped without coming back.
 */
export class HealthTracker {
  private readonly lastSeen = new Map<string, number>();
  private readonly droppedAt = new Map<string, number>();

  constructor(
    private readonly periodMs: number,
    private readonly missedBeats = 3,
  ) {}

  /** Every known node gets a fresh grace period (manager start, leadership). */
  grace(nodeIds: Iterable<string>, now: number, extraMs: number): void {
    for (const id of nodeIds) {
      this.lastSeen.set(id, now + extraMs);
      // A connection this manager saw drop while it followed says nothing: the agent moved to
      // the leader of the time, as it should.
      this.droppedAt.delete(id);
    }
  }

  beat(nodeId: string, now: number): void {
    this.lastSeen.set(nodeId, Math.max(now, this.lastSeen.get(nodeId) ?? 0));
    this.droppedAt.delete(nodeId);
  }

  connected(nodeId: string, now: number): void {
    this.beat(nodeId, now);
  }

  disconnected(nodeId: string, now: number): void {
    this.droppedAt.set(nodeId, now);
  }

  /** Milliseconds since the node was last heard (0 during a grace period), if it was. */
  age(nodeId: string, now: number): number | undefined {
    const seen = this.lastSeen.get(nodeId);
    return seen === undefined ? undefined : Math.max(0, now - seen);
  }

  forget(nodeId: string): void {
    this.lastSeen.delete(nodeId);
    this.droppedAt.delete(nodeId);
  }

  /** The verdict for a node that is currently believed alive, or null while it still is. */
  check(nodeId: string, now: number): HealthVerdict | null {
    const dropped = this.droppedAt.get(nodeId);
    if (dropped !== undefined && now - dropped >= this.periodMs) {
      return { nodeId, status: 'down', message: 'connection lost' };
    }
    const seen = this.lastSeen.get(nodeId);
    if (seen === undefined) {
      this.lastSeen.set(nodeId, now);
      return null;
    }
    if (now - seen >= this.periodMs * this.missedBeats) {
      return {
        nodeId,
        status: 'down',
        message: `no heartbeat for ${Math.round((now - seen) / 1000)}s`,
      };
    }
    return null;
  }
}
