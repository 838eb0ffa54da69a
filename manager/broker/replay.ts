// Remembers the nonces of accepted connect proofs so a captured proof cannot open a second connection.

/**
 * A proof is only accepted within WINDOW of its timestamp, so a nonce needs remembering only
 * until then; older entries are dropped as new ones arrive, which keeps the map bounded by the
 * connection rate.
 */
export class NonceCache {
  private readonly seen = new Map<string, number>();

  constructor(private readonly windowMs: number) {}

  /** Records KEY and returns true, or returns false when it was already used. */
  use(key: string, ts: number, now: number): boolean {
    this.prune(now);
    if (this.seen.has(key)) return false;
    // Kept past both edges of the window: a proof stamped ahead of the manager's clock stays
    // acceptable until ts + window.
    this.seen.set(key, Math.max(ts, now) + this.windowMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private prune(now: number): void {
    // Insertion order is roughly expiry order, so the scan stops at the first live entry.
    for (const [key, until] of this.seen) {
      if (until > now) break;
      this.seen.delete(key);
    }
  }
}
