// The scheduler: gives each new task a node that passes every filter, or says why none does.
import { isTerminal, type TaskRecord } from '../../shared/spec.js';
import { Controller, type ControllerDeps } from '../controller.js';
import type { ChangeSet } from '../store/commands.js';
import type { NodeLoad } from './filters/types.js';
import { Placer, rejectReason } from './pipeline.js';

/**
 * How long a node that rejected a task (no disk, no memory, missing image) is tried last for
 * new tasks of the same service and spec. Rejected tasks stay in the slot's history (a few per
 * slot), which is what this reads.
 */
export const REJECTION_MEMORY_MS = 5 * 60_000;

export class Scheduler extends Controller {
  constructor(deps: ControllerDeps) {
    super(deps, 5_000);
  }

  protected interested(c: ChangeSet): boolean {
    return c.tasks.size > 0 || c.nodes.size > 0 || c.services.size > 0;
  }

  protected async reconcile(): Promise<void> {
    const { store, clock } = this.deps;
    const waiting: TaskRecord[] = [];
    for (const t of store.tasks()) {
      if (
        t.desiredState === 'running' &&
        (t.status.state === 'new' || t.status.state === 'pending')
      ) {
        waiting.push(t);
      }
    }
    if (waiting.length === 0) return;
    waiting.sort((a, b) => a.createdAt - b.createdAt || a.slot - b.slot);
    const loads = new Map<string, NodeLoad>();
    const loadOf = (nodeId: string): NodeLoad => {
      let l = loads.get(nodeId);
      if (!l) {
        l = { tasks: store.tasksOfNode(nodeId).filter(holdsResources) };
        loads.set(nodeId, l);
      }
      return l;
    };
    // Manager processes are nodes of the cluster but run no agent: never candidates.
    const placer = new Placer(
      [...store.nodes()].filter((n) => !n.manager),
      loadOf,
    );
    const now = clock.now();
    const refused = new Map<string, Set<string>>();
    /** Nodes that rejected a task of this service and spec recently: tried last. */
    const refusedBy = (task: TaskRecord): Set<string> => {
      const key = `${task.serviceId}:${task.specVersion}`;
      let nodes = refused.get(key);
      if (!nodes) {
        nodes = new Set();
        for (const t of store.tasksOfService(task.serviceId)) {
          if (
            t.nodeId &&
            t.status.state === 'rejected' &&
            t.specVersion === task.specVersion &&
            now - t.status.at < REJECTION_MEMORY_MS
          )
            nodes.add(t.nodeId);
        }
        refused.set(key, nodes);
      }
      return nodes;
    };
    const updates: TaskRecord[] = [];
    for (const task of waiting) {
      const service = store.service(task.serviceId);
      let nodeId: string | null = null;
      let reason: string | null = null;
      if (task.nodeId) {
        const node = store.node(task.nodeId);
        reason = node
          ? rejectReason({ task, service, node, load: withoutTask(loadOf(node.id), task.id) })
          : 'node is gone';
        if (reason) reason = `no suitable node: node ${node?.name ?? task.nodeId} ${reason}`;
        else nodeId = task.nodeId;
      } else {
        const p = placer.place({ task, service }, refusedBy(task));
        if (p.ok) nodeId = p.node.id;
        else reason = p.reason;
      }
      if (nodeId) {
        const assigned: TaskRecord = {
          ...task,
          nodeId,
          status: {
            ...task.status,
            state: 'assigned',
            message: 'assigned to node',
            error: null,
            at: now,
          },
          updatedAt: now,
        };
        loadOf(nodeId).tasks.push(assigned);
        updates.push(assigned);
      } else if (task.status.state !== 'pending' || task.status.error !== reason) {
        updates.push({
          ...task,
          status: {
            ...task.status,
            state: 'pending',
            message: 'waiting for a node',
            error: reason,
            at: now,
          },
          updatedAt: now,
        });
      }
    }
    if (updates.length > 0)
      await this.deps.propose({ commands: [{ type: 'tasks.put', tasks: updates }] });
  }
}

function withoutTask(load: NodeLoad, id: string): NodeLoad {
  return { tasks: load.tasks.filter((t) => t.id !== id) };
}

function holdsResources(t: TaskRecord): boolean {
  return t.desiredState === 'running' && !isTerminal(t.status.state);
}
