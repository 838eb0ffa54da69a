// The leader's memory of the latest usage summary of each node and its tasks (never written to Raft).
import type { Clock } from '../../shared/clock.js';
import type { NodeUsage, TaskUsage, UsageSummary } from '../../shared/usage.js';

/** How often agents send usage summaries unless the manager is told otherwise. */
export const DEFAULT_STATS_MS = 30_000;

/** A node's latest figures and when the manager received them. */
export interface NodeUsageEntry {
  nodeId: string;
  receivedAt: number;
  node: NodeUsage;
}

/** A task's latest figures, with the node that reported them. */
export interface TaskUsageEntry {
  nodeId: string;
  receivedAt: number;
  task: TaskUsage;
}

/** What metrics and the API read. */
export interface UsageBookView {
  node(nodeId: string): NodeUsageEntry | undefined;
  task(taskId: string): TaskUsageEntry | undefined;
  nodes(): NodeUsageEntry[];
  tasks(): TaskUsageEntry[];
}

export class UsageBook implements UsageBookView {
  private readonly byNode = new Map<string, { entry: NodeUsageEntry; tasks: TaskUsageEntry[] }>();
  private readonly byTask = new Map<string, TaskUsageEntry>();

  /**
   * keepMs: figures older than this are no longer shown (a node that stopped sending them, or
   * a manager that stopped asking).
   */
  constructor(
    private readonly clock: Clock,
    private readonly keepMs: number,
  ) {}

  /** A node's new summary replaces its previous one, tasks included. */
  record(nodeId: string, usage: UsageSummary): void {
    this.forget(nodeId);
    const receivedAt = this.clock.now();
    const tasks = usage.tasks.map((task) => ({ nodeId, receivedAt, task }));
    this.byNode.set(nodeId, { entry: { nodeId, receivedAt, node: usage.node }, tasks });
    for (const t of tasks) this.byTask.set(t.task.id, t);
  }

  /** The node went down or was removed: its figures no longer describe anything. */
  forget(nodeId: string): void {
    const had = this.byNode.get(nodeId);
    if (!had) return;
    this.byNode.delete(nodeId);
    for (const t of had.tasks) if (this.byTask.get(t.task.id) === t) this.byTask.delete(t.task.id);
  }

  /** This manager stopped leading: another one hears the nodes now. */
  clear(): void {
    this.byNode.clear();
    this.byTask.clear();
  }

  node(nodeId: string): NodeUsageEntry | undefined {
    const e = this.byNode.get(nodeId)?.entry;
    return e && this.fresh(e.receivedAt) ? e : undefined;
  }

  task(taskId: string): TaskUsageEntry | undefined {
    const e = this.byTask.get(taskId);
    return e && this.fresh(e.receivedAt) ? e : undefined;
  }

  nodes(): NodeUsageEntry[] {
    return [...this.byNode.values()].map((n) => n.entry).filter((e) => this.fresh(e.receivedAt));
  }

  tasks(): TaskUsageEntry[] {
    return [...this.byTask.values()].filter((e) => this.fresh(e.receivedAt));
  }

  private fresh(receivedAt: number): boolean {
    return this.clock.now() - receivedAt <= this.keepMs;
  }
}
