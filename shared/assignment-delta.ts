// Assignment deltas: the changes between two of a node's assignments, their topic and schema, made and applied purely.
import { z } from 'zod';
import { PREFIX, assignedTaskSchema, assignmentSchema, type Assignment } from './protocol.js';

/**
 * Not retained, QoS 1: the retained assignments topic always holds the full set, so an agent
 * that connects, or that asks again by subscribing again, gets a whole one.
 */
export const assignmentDeltaTopic = (nodeId: string): string =>
  `${PREFIX}/nodes/${nodeId}/assignment-delta`;

/** What a status says when its agent applies deltas (node.assignmentDeltas). */
export const ASSIGNMENT_DELTAS = 1;

/** Everything of an assignment but its identity, version and tasks: small, sent whole. */
export const assignmentHeadSchema = assignmentSchema.omit({
  v: true,
  version: true,
  nodeId: true,
  tasks: true,
});
export type AssignmentHead = z.infer<typeof assignmentHeadSchema>;

export const assignmentDeltaSchema = z.object({
  v: z.literal(1),
  nodeId: z.string(),
  /** The version this delta applies to; an agent running any other asks for the full set. */
  base: z.number().int().min(0),
  /** The version of the assignment the delta makes; greater than base. */
  version: z.number().int().min(0),
  head: assignmentHeadSchema,
  /** Tasks added or changed, whole. */
  put: z.array(assignedTaskSchema),
  /** Ids of tasks no longer assigned. */
  remove: z.array(z.string().max(128)),
});
export type AssignmentDelta = z.infer<typeof assignmentDeltaSchema>;

/** The head of an assignment: what a delta carries whole. */
export function headOf(a: Assignment): AssignmentHead {
  const { v: _v, version: _version, nodeId: _nodeId, tasks: _tasks, ...head } = a;
  return head;
}

/**
 * The delta that turns prev into next. Tasks are compared by content: the same object (a copy
 * the caller reused, sealed secrets and all) or equal JSON counts as unchanged.
 */
export function makeDelta(prev: Assignment, next: Assignment): AssignmentDelta {
  if (prev.nodeId !== next.nodeId) throw new Error('a delta joins two assignments of one node');
  if (next.version <= prev.version)
    throw new Error(`a delta goes forward: ${prev.version} -> ${next.version}`);
  const before = new Map(prev.tasks.map((t) => [t.id, t]));
  const put = next.tasks.filter((t) => {
    const old = before.get(t.id);
    return old !== t && (old === undefined || JSON.stringify(old) !== JSON.stringify(t));
  });
  const kept = new Set(next.tasks.map((t) => t.id));
  const remove = prev.tasks.filter((t) => !kept.has(t.id)).map((t) => t.id);
  return {
    v: 1,
    nodeId: next.nodeId,
    base: prev.version,
    version: next.version,
    head: headOf(next),
    put,
    remove,
  };
}

export type DeltaOutcome =
  /** The new full assignment, to accept and persist like one that came whole. */
  | { kind: 'applied'; assignment: Assignment }
  /** Nothing to do: the agent already runs this version or a newer one. */
  | { kind: 'stale' }
  /** The delta does not fit what runs here (lost or reordered): ask for the full set. */
  | { kind: 'resync'; reason: string };

/** Applies a delta to the assignment running, or says why it cannot. */
export function applyDelta(current: Assignment | null, d: AssignmentDelta): DeltaOutcome {
  if (current !== null && d.version <= current.version) return { kind: 'stale' };
  if (current === null) return { kind: 'resync', reason: 'no assignment to apply a delta to' };
  if (current.nodeId !== d.nodeId) return { kind: 'resync', reason: 'delta for another node' };
  if (d.base !== current.version)
    return {
      kind: 'resync',
      reason: `delta from version ${d.base}, running ${current.version}`,
    };
  const removed = new Set(d.remove);
  const put = new Map(d.put.map((t) => [t.id, t]));
  const tasks = current.tasks
    .filter((t) => !removed.has(t.id))
    .map((t) => {
      const next = put.get(t.id);
      if (next) put.delete(t.id);
      return next ?? t;
    });
  tasks.push(...put.values());
  return {
    kind: 'applied',
    assignment: { v: 1, version: d.version, nodeId: d.nodeId, ...d.head, tasks },
  };
}
