// The scheduler: gives each new task a node that passes every filter, or says why none does.
import { isTerminal, takesTasks, type TaskRecord } from '../../shared/spec.js';
import { Controller, type ControllerDeps } from '../leader/controller.js';
import type { ChangeSet } from '../store/commands.js';
import type { StoreView } from '../store/view.js';
import type { NodeLoad } from './filters/types.js';
import { dependencyWait } from './dependencies.js';
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
    const waiting = waitingTasks(store.tasks());
    if (waiting.length === 0) return;
    const pass = new Pass(store, clock.now());
    const updates: TaskRecord[] = [];
    for (const task of waiting) {
      const next = pass.schedule(task);
      if (next) updates.push(next);
    }
    if (updates.length > 0)
      await this.deps.propose({ commands: [{ type: 'tasks.put', tasks: updates }] });
  }
}

/** Tasks that want to run and have no node yet (or were pinned to one), oldest first. */
function waitingTasks(tasks: Iterable<TaskRecord>): TaskRecord[] {
  const waiting: TaskRecord[] = [];
  for (const t of tasks) {
    if (
      t.desiredState === 'running' &&
      (t.status.state === 'new' || t.status.state === 'pending')
    ) {
      waiting.push(t);
    }
  }
  return waiting.sort((a, b) => a.createdAt - b.createdAt || a.slot - b.slot);
}

/** One scheduling pass: node loads and recent refusals, filled in as tasks are placed. */
class Pass {
  private readonly loads = new Map<string, NodeLoad>();
  private readonly refused = new Map<string, Set<string>>();
  private readonly waits = new Map<string, string | null>();
  private readonly placer: Placer;

  constructor(
    private readonly store: StoreView,
    private readonly now: number,
  ) {
    // Pure manager processes are nodes of the cluster but run no agent: never candidates.
    this.placer = new Placer([...store.nodes()].filter(takesTasks), (nodeId) =>
      this.loadOf(nodeId),
    );
  }

  /** The task assigned to a node, or pending with the reason none fits; null if unchanged. */
  schedule(task: TaskRecord): TaskRecord | null {
    const wait = this.dependencyWait(task.serviceId);
    if (wait) return this.pending(task, wait, null);
    const { nodeId, reason } = this.choose(task);
    const now = this.now;
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
      this.loadOf(nodeId).tasks.push(assigned);
      return assigned;
    }
    return this.pending(task, 'waiting for a node', reason);
  }

  /** The task pending with what it waits for; null when it already says so. */
  private pending(task: TaskRecord, message: string, error: string | null): TaskRecord | null {
    const s = task.status;
    if (s.state === 'pending' && s.error === error && s.message === message) return null;
    return {
      ...task,
      status: { ...s, state: 'pending', message, error, at: this.now },
      updatedAt: this.now,
    };
  }

  /** What a service's new tasks wait for (depends_on), worked out once per pass. */
  private dependencyWait(serviceId: string): string | null {
    let wait = this.waits.get(serviceId);
    if (wait === undefined) {
      const service = this.store.service(serviceId);
      wait = service ? dependencyWait(this.store, service) : null;
      this.waits.set(serviceId, wait);
    }
    return wait;
  }

  /** A task pinned to a node keeps it if it still fits; any other goes through the placer. */
  private choose(task: TaskRecord): { nodeId: string | null; reason: string | null } {
    const service = this.store.service(task.serviceId);
    if (task.nodeId) {
      const node = this.store.node(task.nodeId);
      const reason = node
        ? rejectReason({ task, service, node, load: withoutTask(this.loadOf(node.id), task.id) })
        : 'node is gone';
      if (reason)
        return {
          nodeId: null,
          reason: `no suitable node: node ${node?.name ?? task.nodeId} ${reason}`,
        };
      return { nodeId: task.nodeId, reason: null };
    }
    const p = this.placer.place({ task, service }, this.refusedBy(task));
    return p.ok ? { nodeId: p.node.id, reason: null } : { nodeId: null, reason: p.reason };
  }

  private loadOf(nodeId: string): NodeLoad {
    let l = this.loads.get(nodeId);
    if (!l) {
      l = { tasks: this.store.tasksOfNode(nodeId).filter(holdsResources) };
      this.loads.set(nodeId, l);
    }
    return l;
  }

  /** Nodes that rejected a task of this service and spec recently: tried last. */
  private refusedBy(task: TaskRecord): Set<string> {
    const key = `${task.serviceId}:${task.specVersion}`;
    let nodes = this.refused.get(key);
    if (!nodes) {
      nodes = new Set();
      for (const t of this.store.tasksOfService(task.serviceId)) {
        if (
          t.nodeId &&
          t.status.state === 'rejected' &&
          t.specVersion === task.specVersion &&
          this.now - t.status.at < REJECTION_MEMORY_MS
        )
          nodes.add(t.nodeId);
      }
      this.refused.set(key, nodes);
    }
    return nodes;
  }
}

function withoutTask(load: NodeLoad, id: string): NodeLoad {
  return { tasks: load.tasks.filter((t) => t.id !== id) };
}

function holdsResources(t: TaskRecord): boolean {
  return t.desiredState === 'running' && !isTerminal(t.status.state);
}
