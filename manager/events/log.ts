// The leader's event log: numbers events, writes them through Raft in batches, and prunes the kept window.
import type { Clock, TimerHandle } from '../../shared/clock.js';
import { eventId, type EventDraft, type EventRecord } from '../../shared/events.js';
import type { Logger } from '../../shared/log.js';
import type { LeaderPart } from '../leader/controller.js';
import type { Command } from '../store/commands.js';
import type { Propose, StoreView } from '../store/view.js';

/** How much history the store keeps: whichever bound is reached first. */
export interface EventWindow {
  maxCount: number;
  maxAgeMs: number;
}

export const DEFAULT_EVENT_WINDOW: EventWindow = { maxCount: 10_000, maxAgeMs: 24 * 3_600_000 };
/** Events wait this long to share one Raft proposal: a storm of task changes is a few writes. */
export const EVENT_FLUSH_MS = 200;
/** How often events past the age bound are looked for when nothing else is written. */
const PRUNE_MS = 10_000;
/** Unwritten events held while writes fail; beyond this the oldest are dropped, with a count. */
const MAX_PENDING = 5_000;

export interface EventLogDeps {
  store: StoreView;
  propose: Propose;
  clock: Clock;
  logger: Logger;
  window?: EventWindow;
}

export class EventLog implements LeaderPart {
  private pending: EventDraft[] = [];
  /** The stored events' sequence numbers and times, oldest first (for pruning). */
  private kept: { seq: number; at: number }[] = [];
  private nextSeq = 1;
  private running = false;
  private flushing = false;
  private dropped = 0;
  private timer: TimerHandle | undefined;
  private nextPruneAt = 0;
  /** Counts leaderships: a write from an earlier one that ends late changes nothing here. */
  private term = 0;
  private readonly window: EventWindow;

  constructor(private readonly deps: EventLogDeps) {
    this.window = deps.window ?? DEFAULT_EVENT_WINDOW;
  }

  /** Numbering goes on from the newest stored event: a new leader leaves no gap or repeat. */
  start(): void {
    this.kept = [...this.deps.store.events()]
      .map((e) => ({ seq: e.seq, at: e.at }))
      .sort((a, b) => a.seq - b.seq);
    this.nextSeq = (this.kept[this.kept.length - 1]?.seq ?? 0) + 1;
    this.nextPruneAt = this.deps.clock.now();
    this.running = true;
    this.term++;
    this.flushing = false;
    this.timer = this.deps.clock.setInterval(() => void this.flush(), EVENT_FLUSH_MS);
  }

  /** Events not yet written are lost with the leadership; the new leader records its own. */
  stop(): void {
    this.running = false;
    if (this.timer) this.deps.clock.clearInterval(this.timer);
    this.timer = undefined;
    this.pending = [];
  }

  /** Queues an event for the next batch; ignored when this manager does not lead. */
  record(e: EventDraft): void {
    if (!this.running) return;
    this.pending.push(e);
    if (this.pending.length > MAX_PENDING) {
      this.dropped += this.pending.length - MAX_PENDING;
      this.pending.splice(0, this.pending.length - MAX_PENDING);
    }
  }

  /** Writes the queued events and prunes the window, in one proposal; one flush at a time. */
  async flush(): Promise<void> {
    if (!this.running || this.flushing) return;
    const now = this.deps.clock.now();
    const pruneDue = now >= this.nextPruneAt;
    if (this.pending.length === 0 && !pruneDue) return;
    this.flushing = true;
    const term = this.term;
    // More than the window holds would be pruned at once: only the newest are numbered.
    const batch = this.pending.slice(-this.window.maxCount);
    this.dropped += this.pending.length - batch.length;
    this.pending = [];
    const records: EventRecord[] = batch.map((e, i) => ({
      id: eventId(this.nextSeq + i),
      seq: this.nextSeq + i,
      ...e,
    }));
    const prune = this.prunable(now, records.length);
    const commands: Command[] = [];
    if (records.length > 0) commands.push({ type: 'events.put', events: records });
    if (prune.length > 0) commands.push({ type: 'events.remove', ids: prune.map(eventId) });
    try {
      if (commands.length > 0) await this.deps.propose({ commands });
      if (term !== this.term) return;
      this.nextSeq += records.length;
      this.kept.splice(0, prune.length);
      this.kept.push(...records.map((r) => ({ seq: r.seq, at: r.at })));
      if (pruneDue) this.nextPruneAt = now + PRUNE_MS;
      this.noteDropped();
    } catch (e) {
      // Kept for the next flush, in order; a leader that stepped down drops them in stop().
      if (this.running && term === this.term) this.pending = [...batch, ...this.pending];
      this.deps.logger.warn('could not write events; will retry', {
        events: batch.length,
        error: String(e),
      });
    } finally {
      if (term === this.term) this.flushing = false;
    }
  }

  /** Sequence numbers of stored events past the age bound, or beyond the count with `adding` more. */
  private prunable(now: number, adding: number): number[] {
    const { maxCount, maxAgeMs } = this.window;
    const overCount = Math.max(0, this.kept.length + adding - maxCount);
    let n = Math.min(overCount, this.kept.length);
    while (n < this.kept.length && (this.kept[n]?.at ?? now) < now - maxAgeMs) n++;
    return this.kept.slice(0, n).map((k) => k.seq);
  }

  private noteDropped(): void {
    if (this.dropped === 0) return;
    this.deps.logger.warn('events dropped while they could not be written', {
      dropped: this.dropped,
    });
    this.dropped = 0;
  }
}
