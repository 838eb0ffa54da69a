// Takes assignments off the wire: full sets and deltas, validated; a delta that does not fit what runs asks for the full set.
import { applyDelta, assignmentDeltaSchema } from '../../shared/assignment-delta.js';
import type { Logger } from '../../shared/log.js';
import { assignmentSchema, decode, type Assignment } from '../../shared/protocol.js';

export interface AssignmentIntake {
  nodeId: string;
  logger: Logger;
  /** The last assignment accepted from a manager (without a bundle): what deltas apply to. */
  running(): Assignment | null;
  /** Accepts, persists and acts on a full assignment. */
  take(a: Assignment): Promise<void>;
  /** Asks the manager for the full set again (it comes on the assignments topic). */
  askFull(): void;
}

/** A full set, as retained on the node's assignments topic. */
export async function takeFullAssignment(i: AssignmentIntake, payload: Buffer): Promise<void> {
  // A manager that stops leading clears its retained copy: that is no order to stop anything.
  if (payload.length === 0) return;
  const d = decode(assignmentSchema, payload);
  if (!d.ok) return i.logger.warn('dropped assignment', { reason: d.reason });
  const a = d.value;
  if (a.nodeId !== i.nodeId)
    return i.logger.warn('dropped assignment for another node', { nodeId: a.nodeId });
  await i.take(a);
}

/**
 * The changes since the version running here. One made from another version (a delta lost or
 * overtaken on the way) is dropped and the full set asked for: a board never runs a set that
 * is neither the old one nor the new one.
 */
export async function takeAssignmentDelta(i: AssignmentIntake, payload: Buffer): Promise<void> {
  const d = decode(assignmentDeltaSchema, payload);
  if (!d.ok) return i.logger.warn('dropped assignment delta', { reason: d.reason });
  if (d.value.nodeId !== i.nodeId)
    return i.logger.warn('dropped assignment delta for another node', { nodeId: d.value.nodeId });
  const outcome = applyDelta(i.running(), d.value);
  if (outcome.kind === 'stale') return;
  if (outcome.kind === 'resync') {
    i.logger.info('asking for the full assignment', { reason: outcome.reason });
    return i.askFull();
  }
  await i.take(outcome.assignment);
}
