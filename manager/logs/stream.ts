// One followed log stream on the manager: its parts, which of them still run, its lease and its merged lines.
import type { LogLine, ReadOptions } from '../../shared/log-stream.js';
import { LogMerger } from './merge.js';
import type { PlacedPart } from './targets.js';

/** How long a line waits for earlier ones from other nodes before it goes to the CLI. */
export const MERGE_HOLD_MS = 150;
/** Without follow, lines are held until every part ended, up to this many (then sent in order). */
const MAX_HELD_LINES = 20_000;

export class RelayedStream {
  /** Parts still being read. */
  readonly live: Set<number>;
  /** Nodes that took the stream on (their agent answered the start). */
  readonly acked = new Set<string>();
  readonly merger: LogMerger;
  leaseUntil: number;
  /** The stream id sent to agents: the CLI's id is only unique for that CLI. */
  readonly wireId: string;

  constructor(
    readonly clientId: string,
    readonly id: string,
    readonly parts: readonly PlacedPart[],
    readonly read: ReadOptions,
    readonly openedAt: number,
    leaseMs: number,
    wireId: string,
  ) {
    this.live = new Set(parts.map((p) => p.key));
    // Lines of one node arrive in the order it sent them: only several nodes need the wait.
    this.merger = new LogMerger(this.nodes().size > 1 ? MERGE_HOLD_MS : 0);
    this.leaseUntil = openedAt + leaseMs;
    this.wireId = wireId;
  }

  /** Nodes that read at least one live part. */
  liveNodes(): Set<string> {
    const out = new Set<string>();
    for (const p of this.parts) if (this.live.has(p.key)) out.add(p.nodeId);
    return out;
  }

  nodes(): Set<string> {
    return new Set(this.parts.map((p) => p.nodeId));
  }

  /** Keeps the lines of parts that `nodeId` reads; others are not its to send. */
  accept(nodeId: string, lines: readonly LogLine[], now: number): void {
    const own = new Set(this.parts.filter((p) => p.nodeId === nodeId).map((p) => p.key));
    this.merger.push(
      lines.filter((l) => own.has(l.k) && this.live.has(l.k)),
      now,
    );
  }

  endParts(nodeId: string, keys: readonly number[]): void {
    for (const k of keys) {
      if (this.parts.some((p) => p.key === k && p.nodeId === nodeId)) this.live.delete(k);
    }
  }

  /** Ends every live part of a node with a line that says why. */
  endNode(nodeId: string, text: (p: PlacedPart) => string, now: number): void {
    const ending = this.parts.filter((p) => p.nodeId === nodeId && this.live.has(p.key));
    this.merger.push(
      ending.map((p) => ({ k: p.key, t: now, m: true, x: text(p) })),
      now,
    );
    for (const p of ending) this.live.delete(p.key);
  }

  get finished(): boolean {
    return this.live.size === 0 && this.merger.size === 0;
  }

  /** The lines to send now: as they come when following, else all at once at the end. */
  due(now: number): LogLine[] {
    if (this.read.follow) return this.merger.take(now);
    if (this.live.size === 0 || this.merger.size > MAX_HELD_LINES)
      return this.merger.take(now, true);
    return [];
  }
}
