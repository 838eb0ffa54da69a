// ReadIndex bookkeeping on the leader: requests waiting for a quorum of heartbeat acks.
import type { NodeId, ReadState } from './types.js';

interface Pending {
  index: number;
  acks: Set<NodeId>;
}

export class ReadOnlyQueue {
  private pending = new Map<string, Pending>();
  private queue: string[] = [];

  /** Registers a request at commit index `index`; false when the context is already pending. */
  add(context: string, index: number, self: NodeId): boolean {
    if (this.pending.has(context)) return false;
    this.pending.set(context, { index, acks: new Set([self]) });
    this.queue.push(context);
    return true;
  }

  /** Records an ack; returns the acks so far, or undefined for an unknown context. */
  ack(context: string, from: NodeId): Set<NodeId> | undefined {
    const p = this.pending.get(context);
    if (!p) return undefined;
    p.acks.add(from);
    return p.acks;
  }

  /** Releases `context` and every request queued before it (a later quorum covers earlier reads). */
  release(context: string): ReadState[] {
    const at = this.queue.indexOf(context);
    if (at < 0) return [];
    const done = this.queue.splice(0, at + 1);
    const out: ReadState[] = [];
    for (const c of done) {
      const p = this.pending.get(c);
      this.pending.delete(c);
      if (p) out.push({ context: c, index: p.index });
    }
    return out;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }

  size(): number {
    return this.queue.length;
  }
}
