// A byte-rate limit shared by every transfer of one sender: callers wait for their turn, first come first served.
import type { Clock } from '../clock.js';

/** Parses 10M, 512k, 2G (bytes per second; k/M/G are powers of 1024) or 0 for none. */
export function parseBandwidth(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?(?:\/s)?\s*$/i.exec(text);
  if (!m) return null;
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/**
 * A token bucket in bytes: `take(n)` resolves once n bytes fit under `bytesPerSec`, allowing a
 * burst of `burstBytes` after a quiet spell. Waiters are served in order, so a large transfer
 * cannot starve a small one queued behind it. 0 bytes per second means no limit.
 */
export class Bandwidth {
  private tokens: number;
  private refilledAt: number;
  private queue: Promise<void> = Promise.resolve();
  private sent = 0;

  constructor(
    private readonly clock: Clock,
    private bytesPerSec: number,
    private readonly burstBytes = 256 * 1024,
  ) {
    this.tokens = burstBytes;
    this.refilledAt = clock.now();
  }

  get limit(): number {
    return this.bytesPerSec;
  }

  /** Bytes let through since start. */
  get total(): number {
    return this.sent;
  }

  setLimit(bytesPerSec: number): void {
    this.bytesPerSec = bytesPerSec;
  }

  take(bytes: number): Promise<void> {
    const turn = this.queue.then(() => this.wait(bytes));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async wait(bytes: number): Promise<void> {
    if (this.bytesPerSec > 0) {
      this.refill();
      // A chunk larger than the burst is let through once the bucket is full, then owed.
      const need = Math.min(bytes, this.burstBytes);
      while (this.tokens < need) {
        await this.clock.sleep(
          Math.max(1, Math.ceil(((need - this.tokens) * 1000) / this.bytesPerSec)),
        );
        this.refill();
      }
      this.tokens -= bytes;
    }
    this.sent += bytes;
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.refilledAt;
    this.refilledAt = now;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burstBytes, this.tokens + (elapsed * this.bytesPerSec) / 1000);
    }
  }
}
