// What a fault order's target remembers: order ids seen in the last hour, and the faults in force now.
import type { Fault } from './chaos.js';

/** An order id is refused again for this long: longer than any order stays fresh. */
export const REPLAY_WINDOW_MS = 3_600_000;

export interface ActiveFault {
  fault: Fault;
  until: number;
}

/**
 * Pure bookkeeping, given the time on each call: the target asks `admit` before carrying out
 * an order, records the fault with `begin`, and calls `end` when it is undone.
 */
export class ChaosGuard {
  private readonly seen = new Map<string, number>();
  private readonly active = new Map<Fault, number>();

  /** Null when the order may be carried out (and its id is now remembered); else why not. */
  admit(id: string, fault: Fault, now: number): string | null {
    for (const [seenId, at] of this.seen) if (now - at > REPLAY_WINDOW_MS) this.seen.delete(seenId);
    if (this.seen.has(id)) return `order ${id} was already carried out`;
    this.seen.set(id, now);
    if (fault !== 'stats' && this.active.has(fault)) return `a ${fault} fault is already in force`;
    return null;
  }

  begin(fault: Fault, until: number): void {
    this.active.set(fault, until);
  }

  end(fault: Fault): void {
    this.active.delete(fault);
  }

  list(): ActiveFault[] {
    return [...this.active].map(([fault, until]) => ({ fault, until }));
  }
}
