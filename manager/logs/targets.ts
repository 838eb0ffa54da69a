// What a log request names, as parts: every task of a service on its node, one task, or a node's agent.
import { FleetError, notFound } from '../../shared/errors.js';
import type { LogPart, LogRequest } from '../../shared/log-stream.js';
import { taskName, type TaskRecord } from '../../shared/spec.js';
import { findNode, findService } from '../api/lookup.js';
import type { StoreView } from '../store/store.js';

/** A part and the node that reads it. */
export interface PlacedPart extends LogPart {
  nodeId: string;
}

/** Parts in one stream at most (a control message lists a node's share of them). */
const MAX_PARTS = 500;

type Target = Extract<LogRequest, { op: 'open' }>['target'];

/** Throws a FleetError (not found, ambiguous, nothing placed yet) the CLI shows as is. */
export function resolveParts(store: StoreView, target: Target): PlacedPart[] {
  if (target.kind === 'node') {
    const n = findNode(store, target.ref);
    return [{ key: 0, name: n.name, node: n.name, nodeId: n.id }];
  }
  const tasks =
    target.kind === 'task' ? [findTask(store, target.ref)] : serviceTasks(store, target.ref);
  // The newest tasks of a service with a long history: older ones have mostly left their nodes.
  const placed = tasks
    .filter((t): t is TaskRecord & { nodeId: string } => t.nodeId !== null)
    .sort((a, b) => b.createdAt - a.createdAt)
    .slice(0, MAX_PARTS)
    .sort((a, b) => a.slot - b.slot || a.createdAt - b.createdAt);
  if (placed.length === 0)
    throw new FleetError('not_found', `no task of ${target.ref} has been placed on a node yet`);
  return placed.map((t, key) => ({
    key,
    name: taskName(t),
    taskId: t.id,
    node: store.node(t.nodeId)?.name ?? t.nodeId,
    nodeId: t.nodeId,
  }));
}

/** The tasks of a service by name or id; else, like docker service logs, the task with that id. */
function serviceTasks(store: StoreView, ref: string): TaskRecord[] {
  try {
    return store.tasksOfService(findService(store, ref).id);
  } catch (e) {
    if (!(e instanceof FleetError) || e.code !== 'not_found') throw e;
  }
  try {
    return [findTask(store, ref)];
  } catch (e) {
    if (e instanceof FleetError && e.code === 'not_found') throw notFound(`service or task ${ref}`);
    throw e;
  }
}

/** A task by id or unique id prefix. */
function findTask(store: StoreView, ref: string): TaskRecord {
  const all = [...store.tasks()];
  const exact = all.find((t) => t.id === ref);
  if (exact) return exact;
  const prefixed = all.filter((t) => t.id.startsWith(ref));
  if (prefixed.length === 1 && prefixed[0]) return prefixed[0];
  if (prefixed.length > 1)
    throw new FleetError(
      'conflict',
      `task ${ref} is ambiguous: ${prefixed.length} ids start with it`,
    );
  throw notFound(`task ${ref}`);
}
