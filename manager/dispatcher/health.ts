// Node liveness from heartbeats and connection events; decides ready, down and unknown.
import type { NodeStatus } from '../../shared/spec.js';

export interface HealthVerdict {
  nodeId: string;
  status: NodeStatus;
  message: string;
}

/** How long one node may be silent, or gone from the broker, before it is down. */
export interface NodeHealthTiming {
  silenceMs: number;
  dropGraceMs: number;
}

/**
 * Tracks when each node was last heard from. A node is down after `missedBeats` periods of
 * silence, or one period after its connection dropped without coming back; `timingOf` gives
 * nodes of another link profile (metered) their own bounds.
 */
export class HealthTracker {
  private readonly lastSeen = new Map<string, number>();
  private readonly droppedAt = new Map<string, number>();
  /** Nodes whose agent said it is restarting into another release: not down before this time. */
  private readonly heldUntil = new Map<string, number>();

  constructor(
    private readonly periodMs: number,
    private readonly missedBeats = 3,
    private readonly timingOf: (nodeId: string) => NodeHealthTiming | undefined = () => undefined,
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

  /**
   * Heard from the node. A status says whether its agent is restarting into another release
   * (`holdMs` > 0: a hold) or not (0: the hold ends); a heartbeat (undefined) leaves it.
   */
  beat(nodeId: string, now: number, holdMs?: number): void {
    this.lastSeen.set(nodeId, Math.max(now, this.lastSeen.get(nodeId) ?? 0));
    this.droppedAt.delete(nodeId);
    if (holdMs === undefined) return;
    if (holdMs > 0) this.heldUntil.set(nodeId, now + holdMs);
    else this.heldUntil.delete(nodeId);
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
    this.heldUntil.delete(nodeId);
    this.lastSeen.delete(nodeId);
    this.droppedAt.delete(nodeId);
  }

  /** The verdict for a node that is currently believed alive, or null while it still is. */
  check(nodeId: string, now: number): HealthVerdict | null {
    if ((this.heldUntil.get(nodeId) ?? 0) > now) return null;
    const timing = this.timingOf(nodeId);
    const dropped = this.droppedAt.get(nodeId);
    if (dropped !== undefined && now - dropped >= (timing?.dropGraceMs ?? this.periodMs)) {
      return { nodeId, status: 'down', message: 'connection lost' };
    }
    const seen = this.lastSeen.get(nodeId);
    if (seen === undefined) {
      this.lastSeen.set(nodeId, now);
      return null;
    }
    if (now - seen >= (timing?.silenceMs ?? this.periodMs * this.missedBeats)) {
      return {
        nodeId,
        status: 'down',
        message: `no heartbeat for ${Math.round((now - seen) / 1000)}s`,
      };
    }
    return null;
  }
}

/**
 * How long a node whose agent reports it is switching to another release stays up without
 * being heard: the new agent reconnects within seconds, or the board falls back to the old one
 * within its monitor period (60 s by default). Its tasks keep running all along.
 */
export const SWITCH_HOLD_MS = 120_000;

export const switchHoldMs = (
  node: { upgrade?: { state: string } | undefined } | undefined,
): number | undefined =>
  node === undefined ? undefined : node.upgrade?.state === 'switching' ? SWITCH_HOLD_MS : 0;
