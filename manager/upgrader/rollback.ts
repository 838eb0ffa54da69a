// Turning a rollout around or letting it go on: the rollback that sends nodes back to the release they ran, and --resume.
import type { RolloutRecord } from '../../shared/ota/rollout-record.js';

/**
 * Starts rolling `r` back in place: every node asked for the release (in flight or done) becomes
 * pending again with the version it ran before as its goal; the others are left out. Returns null,
 * or why it cannot (a previous release no longer stored, or unknown), leaving `r` as it was.
 */
export function startRollback(
  r: RolloutRecord,
  releases: ReadonlyMap<string, unknown>,
  now: number,
  reason: string,
): string | null {
  const back = r.nodes.filter(
    (n) => n.target === r.release && n.from !== r.release && n.state !== 'pending',
  );
  for (const n of back) {
    if (!n.from) return `node ${n.name} never said which release it ran before`;
    if (!releases.has(n.from))
      return (
        `node ${n.name}'s previous release ${n.from} is no longer stored ` +
        `(push it again with "fleet agent release push", then "fleet node upgrade --rollback")`
      );
  }
  const going = new Set(back.map((n) => n.nodeId));
  for (const n of r.nodes) {
    if (going.has(n.nodeId)) {
      n.state = 'pending';
      delete n.startedAt;
      delete n.readySince;
      delete n.settledAt;
      delete n.reason;
    } else if (n.state === 'pending') {
      n.state = 'skipped';
      n.reason = 'not upgraded before the rollback';
    }
  }
  r.kind = 'rollback';
  r.state = 'rolling back';
  r.failures = 0;
  r.message = `rolling back: ${reason}`;
  r.updatedAt = now;
  delete r.completedAt;
  return null;
}

/** A paused rollout (or one held at its canaries) goes on; failures so far stop counting. */
export function resumed(r: RolloutRecord, now: number): RolloutRecord {
  return {
    ...r,
    state: r.kind === 'upgrade' ? 'updating' : 'rolling back',
    promoted: true,
    failures: 0,
    message: `${r.kind === 'upgrade' ? 'upgrade' : 'rollback'} resumed`,
    updatedAt: now,
  };
}
