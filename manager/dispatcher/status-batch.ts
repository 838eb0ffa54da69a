// What agents reported since the last write, taken out in bounded batches that each become one store proposal.
import type { StatusMessage, TaskReport } from '../../shared/protocol.js';
import type { NodeRecord, TaskRecord } from '../../shared/spec.js';
import type { Command } from '../store/commands.js';
import type { StoreView } from '../store/view.js';
import { applyReport, withInfo } from './reports.js';

/** Reports wait this long for others to join them in one proposal. */
export const FLUSH_MS = 25;
/**
 * Most records (node statuses, node facts, task reports) in one proposal: 10,000 boards that
 * reconnect together become a few proposals of bounded size, one after the other, instead of
 * one entry whose apply blocks the manager for seconds.
 */
export const MAX_BATCH = 1_000;

type NodeInfo = NonNullable<StatusMessage['node']>;

/** One batch taken out: what it holds, to be put back if its write fails. */
export interface Batch {
  status: Map<string, NodeRecord['status']>;
  info: Map<string, NodeInfo>;
  reports: Map<string, { nodeId: string; report: TaskReport }>;
}

export class StatusBatch {
  /** Per node, latest wins; per task, latest report wins. Maps keep arrival order. */
  readonly status = new Map<string, NodeRecord['status']>();
  readonly info = new Map<string, NodeInfo>();
  readonly reports = new Map<string, { nodeId: string; report: TaskReport }>();

  get size(): number {
    return this.status.size + this.info.size + this.reports.size;
  }

  clear(): void {
    this.status.clear();
    this.info.clear();
    this.reports.clear();
  }

  /** Takes out up to max records, oldest first. */
  take(max = MAX_BATCH): Batch {
    let room = max;
    const out: Batch = { status: new Map(), info: new Map(), reports: new Map() };
    const move = <K, V>(from: Map<K, V>, to: Map<K, V>): void => {
      for (const [k, v] of from) {
        if (room <= 0) return;
        to.set(k, v);
        from.delete(k);
        room--;
      }
    };
    move(this.status, out.status);
    move(this.info, out.info);
    move(this.reports, out.reports);
    return out;
  }

  /** A batch whose write failed goes back under anything newer that arrived meanwhile. */
  putBack(b: Batch): void {
    for (const [k, v] of b.status) if (!this.status.has(k)) this.status.set(k, v);
    for (const [k, v] of b.info) if (!this.info.has(k)) this.info.set(k, v);
    for (const [k, v] of b.reports) if (!this.reports.has(k)) this.reports.set(k, v);
  }
}

/** The commands that record a batch: changed nodes one by one, changed tasks in one put. */
export function batchCommands(b: Batch, store: StoreView, now: number): Command[] {
  const nodes = new Map<string, NodeRecord>();
  const nodeOf = (id: string): NodeRecord | undefined => nodes.get(id) ?? store.node(id);
  for (const [id, status] of b.status) {
    const n = nodeOf(id);
    if (n && n.status !== status)
      nodes.set(id, { ...n, status, statusMessage: '', updatedAt: now });
  }
  for (const [id, info] of b.info) {
    const n = nodeOf(id);
    const next = n ? withInfo(n, info, now) : null;
    if (next) nodes.set(id, next);
  }
  const tasks: TaskRecord[] = [];
  for (const { nodeId, report } of b.reports.values()) {
    const t = store.task(report.taskId);
    if (!t || t.nodeId !== nodeId) continue;
    const next = applyReport(t, report, now);
    if (next) tasks.push(next);
  }
  const commands: Command[] = [...nodes.values()].map((node) => ({ type: 'node.put', node }));
  if (tasks.length > 0) commands.push({ type: 'tasks.put', tasks });
  return commands;
}
