// Adds the leader's latest usage figures to node and task views (node inspect, service ps --stats).
import type { NodeView, TaskView } from '../../shared/api.js';
import type { UsageBookView } from '../observe/usage-book.js';

const iso = (ms: number): string => new Date(ms).toISOString();

export function withNodeUsage(v: NodeView, usage: UsageBookView | undefined): NodeView {
  const e = usage?.node(v.id);
  return e ? { ...v, usage: { ...e.node, reportedAt: iso(e.receivedAt) } } : v;
}

export function withTaskUsage(tasks: TaskView[], usage: UsageBookView | undefined): TaskView[] {
  if (!usage) return tasks;
  return tasks.map((t) => {
    const e = t.state === 'running' ? usage.task(t.id) : undefined;
    if (!e) return t;
    const { cpu, mem, rx, tx } = e.task;
    return { ...t, usage: { cpu, mem, rx, tx, reportedAt: iso(e.receivedAt) } };
  });
}
