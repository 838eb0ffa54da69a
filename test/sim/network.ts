// A simulated network for Raft messages: loss, duplication, variable delay (hence reordering) and partitions.
import type { Message, NodeId } from '../../manager/raft/core/types.js';
import type { Prng } from './prng.js';

export interface NetworkConfig {
  /** Probability that a sent message is silently lost. */
  loss: number;
  /** Probability that a sent message is delivered twice (with independent delays). */
  duplicate: number;
  /** Delivery delay in ticks, uniform in [minDelay, maxDelay]; 0 means later in the same tick. */
  minDelay: number;
  maxDelay: number;
}

interface InFlight {
  at: number;
  seq: number;
  msg: Message;
}

export type DropReason = 'loss' | 'partition';

export class SimNetwork {
  private queue: InFlight[] = [];
  private seq = 0;
  /** Partition group of each node; a node absent from the map is in group 0. */
  private groups = new Map<NodeId, number>();
  private nextGroup = 1;
  sent = 0;
  delivered = 0;
  dropped = 0;

  constructor(
    public config: NetworkConfig,
    private readonly rng: Prng,
  ) {}

  canReach(a: NodeId, b: NodeId): boolean {
    return (this.groups.get(a) ?? 0) === (this.groups.get(b) ?? 0);
  }

  /** Cut `id` off from everyone else. */
  isolate(id: NodeId): void {
    this.groups.set(id, this.nextGroup++);
  }

  /** Each listed side can talk only within itself; unlisted nodes stay in group 0. */
  split(sides: NodeId[][]): void {
    this.groups.clear();
    for (const side of sides) {
      const g = this.nextGroup++;
      for (const id of side) this.groups.set(id, g);
    }
  }

  heal(): void {
    this.groups.clear();
  }

  partitioned(): boolean {
    return this.groups.size > 0;
  }

  /** Queue `msg` for delivery; returns whether it was dropped at once (and why). */
  send(msg: Message, now: number): DropReason | null {
    this.sent++;
    if (!this.canReach(msg.from, msg.to)) {
      this.dropped++;
      return 'partition';
    }
    if (this.rng.chance(this.config.loss)) {
      this.dropped++;
      return 'loss';
    }
    this.enqueue(msg, now);
    if (this.rng.chance(this.config.duplicate)) this.enqueue(msg, now);
    return null;
  }

  private enqueue(msg: Message, now: number): void {
    const { minDelay, maxDelay } = this.config;
    const item: InFlight = { at: now + this.rng.range(minDelay, maxDelay), seq: this.seq++, msg };
    // Keep the queue sorted by (at, seq); most inserts land near the end.
    let i = this.queue.length;
    while (i > 0) {
      const prev = this.queue[i - 1] as InFlight;
      if (prev.at < item.at || (prev.at === item.at && prev.seq < item.seq)) break;
      i--;
    }
    this.queue.splice(i, 0, item);
  }

  /** The next message due at or before `now`, with whether a partition that formed while it was
   * in flight cut it off; undefined when nothing is due. */
  next(now: number): { msg: Message; cut: boolean } | undefined {
    const head = this.queue[0];
    if (head === undefined || head.at > now) return undefined;
    this.queue.shift();
    const cut = !this.canReach(head.msg.from, head.msg.to);
    if (cut) this.dropped++;
    else this.delivered++;
    return { msg: head.msg, cut };
  }
}
