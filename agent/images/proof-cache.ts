// Checks neighbours' proofs of cluster membership, remembering the ones already verified (two signature checks each).
import type { Clock } from '../../shared/clock.js';
import { CLOCK_SKEW_MS, verifyConnectProof } from '../../shared/identity.js';
import { PEER_PROOF_SUBJECT } from './peer-source.js';

/** Proofs remembered at most; a board has few neighbours, each with one proof a minute. */
const MAX_REMEMBERED = 256;

export class ProofCache {
  /** Proof text → the time it was made, for proofs whose signatures checked out. */
  private readonly good = new Map<string, number>();

  constructor(
    private readonly rootPub: string,
    private readonly clock: Clock,
  ) {}

  /**
   * Null when the base64 proof shows a node certificate of this cluster and a fresh signature
   * made with its key; otherwise why not. A remembered proof is only checked for age: its
   * signatures (tens of milliseconds on a board) were checked when it was first seen.
   */
  check(proofB64: string): string | null {
    const now = this.clock.now();
    const made = this.good.get(proofB64);
    if (made !== undefined) {
      if (Math.abs(now - made) <= CLOCK_SKEW_MS) return null;
      this.good.delete(proofB64);
      return 'credentials too old';
    }
    const text = Buffer.from(proofB64, 'base64').toString('utf8');
    const r = verifyConnectProof(text, PEER_PROOF_SUBJECT, this.rootPub, now);
    if (!r.ok) return r.reason;
    if (this.good.size >= MAX_REMEMBERED) {
      const oldest = this.good.keys().next().value;
      if (oldest !== undefined) this.good.delete(oldest);
    }
    this.good.set(proofB64, r.ts);
    return null;
  }
}
