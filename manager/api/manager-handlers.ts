// RPC handlers about the managers themselves: promote, demote, remove, and the Raft group's list.
import type { ManagerView, NodeView, TaskView } from '../../shared/api.js';
import { FleetError, invalidArgument } from '../../shared/errors.js';
import type { NodeRecord } from '../../shared/spec.js';
import type { Command } from '../store/commands.js';
import type { StoreView } from '../store/store.js';
import type { HandlerContext } from './context.js';
import { findNode } from './lookup.js';
import { managerStatus, nodeView, taskView, type RaftView } from './views.js';

const managers = (store: StoreView): NodeRecord[] => [...store.nodes()].filter((n) => n.manager);

/**
 * Promote and demote change the role in the node record; the leader's membership controller
 * then makes the manager a voter (once caught up) or a learner, handing leadership over first
 * when the leader itself is demoted.
 */
export function setManagerRole(
  ref: string,
  role: 'manager' | 'worker',
  { store, now, raft }: HandlerContext,
): { result: NodeView; commands?: Command[] } {
  const n = findNode(store, ref);
  if (!n.manager)
    throw invalidArgument(
      `node ${n.name} runs an agent only: to add a manager on that board, run ` +
        '`fleet manager start --join LEADER:PORT --token MANAGER_TOKEN` there',
    );
  if (n.role === role) return { result: nodeView(store, n, raft) };
  if (role === 'worker') {
    const voting = managers(store).filter((m) => m.role === 'manager' && m.id !== n.id);
    if (voting.length === 0)
      throw new FleetError('conflict', `${n.name} is the last manager; promote another one first`);
  }
  const next: NodeRecord = { ...n, role, updatedAt: now };
  return { result: nodeView(store, next, raft), commands: [{ type: 'node.put', node: next }] };
}

/** A manager may leave only when that cannot cost the cluster its quorum by surprise. */
export function checkManagerRemoval(
  store: StoreView,
  n: NodeRecord,
  raft: RaftView | undefined,
  force: boolean,
): void {
  if (raft?.leaderId === n.id)
    throw new FleetError('conflict', `${n.name} leads the cluster; demote it first`);
  const others = managers(store).filter((m) => m.id !== n.id && m.role === 'manager');
  if (others.length === 0) throw new FleetError('conflict', `${n.name} is the last manager`);
  const reachable = raft?.reachable(n.id) ?? false;
  if (reachable && raft?.raftRole(n.id) === 'voter')
    throw new FleetError(
      'conflict',
      `manager ${n.name} is reachable and votes; demote it first (fleet node demote ${n.name})`,
    );
  if (!reachable && !force)
    throw new FleetError(
      'conflict',
      `manager ${n.name} is unreachable; remove it with --force and the others stop waiting for it`,
    );
}

export function managerList(store: StoreView, raft: RaftView | undefined): ManagerView[] {
  return managers(store)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((n) => {
      const status = managerStatus(n, raft);
      if (!status) throw new Error('invariant: manager record without manager status');
      return {
        id: n.id,
        name: n.name,
        role: n.role,
        ...status,
        appliedIndex: raft?.appliedIndex(n.id) ?? null,
      };
    });
}

/** `fleet node ps`: the tasks on the nodes given by name or id, or on every node; newest first per slot. */
export function nodeTasks(store: StoreView, refs: readonly string[]): TaskView[] {
  const nodes = refs.length > 0 ? refs.map((r) => findNode(store, r)) : [...store.nodes()];
  return nodes
    .flatMap((n) => store.tasksOfNode(n.id))
    .sort(
      (a, b) =>
        a.serviceName.localeCompare(b.serviceName) || a.slot - b.slot || b.createdAt - a.createdAt,
    )
    .map((t) => taskView(store, t));
}
