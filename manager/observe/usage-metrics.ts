// Gauges of the boards' health and their tasks' usage, from the summaries the leader keeps (usage-book.ts).
import { Counter, Gauge, type Registry } from 'prom-client';
import { taskName, type NodeRecord, type TaskRecord } from '../../shared/spec.js';
import type { NodeUsage } from '../../shared/usage.js';
import type { UsageBookView } from './usage-book.js';

export interface UsageMetricsSources {
  nodes: () => Iterable<NodeRecord>;
  /** The leader's summaries; undefined or empty elsewhere. */
  usage?: () => UsageBookView | undefined;
  task?: (id: string) => TaskRecord | undefined;
}

type NodeFigure = (n: NodeUsage) => number | undefined;

const NODE_GAUGES: [string, string, NodeFigure][] = [
  ['fleet_node_cpu_ratio', 'share of all cores busy over the last summary period', (n) => n.cpu],
  ['fleet_node_memory_used_bytes', 'memory in use (total less available)', (n) => n.memUsed],
  ['fleet_node_memory_bytes', 'memory of the board', (n) => n.memTotal],
  ['fleet_node_disk_used_bytes', "used bytes of the agent's data disk", (n) => n.diskUsed],
  ['fleet_node_disk_bytes', "size of the agent's data disk", (n) => n.diskTotal],
  ['fleet_node_temperature_celsius', 'hottest thermal zone of the board', (n) => n.tempC],
  [
    'fleet_node_under_voltage',
    '1 while the board reports its supply too low',
    (n) => flag(n.underVoltage),
  ],
  ['fleet_node_throttled', '1 while the firmware slows the CPU down', (n) => flag(n.throttled)],
];

export function usageMetrics(r: Registry, s: UsageMetricsSources): void {
  const nodeNames = (): Map<string, string> => new Map([...s.nodes()].map((n) => [n.id, n.name]));
  for (const [name, help, read] of NODE_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ['node'],
      registers: [r],
      collect() {
        this.reset();
        const names = nodeNames();
        for (const e of s.usage?.()?.nodes() ?? []) {
          const v = read(e.node);
          const node = names.get(e.nodeId);
          if (v !== undefined && node !== undefined) this.set({ node }, v);
        }
      },
    });
  }
  taskUsageMetrics(r, s, nodeNames);
}

type TaskLabels = { service: string; task: string; node: string };

function taskUsageMetrics(
  r: Registry,
  s: UsageMetricsSources,
  nodeNames: () => Map<string, string>,
): void {
  /** Each known task's figures with its labels: tasks the store forgot are left out. */
  const rows = (): { labels: TaskLabels; cpu: number; mem: number; rx: number; tx: number }[] => {
    const names = nodeNames();
    return (s.usage?.()?.tasks() ?? []).flatMap((e) => {
      const t = s.task?.(e.task.id);
      const node = names.get(e.nodeId);
      if (!t || node === undefined) return [];
      return [{ labels: { service: t.serviceName, task: taskName(t), node }, ...e.task }];
    });
  };
  const labelNames = ['service', 'task', 'node'];
  new Gauge({
    name: 'fleet_task_cpu_cores',
    help: 'cores a task used on average over the last summary period',
    labelNames,
    registers: [r],
    collect() {
      this.reset();
      for (const t of rows()) this.set(t.labels, t.cpu);
    },
  });
  new Gauge({
    name: 'fleet_task_memory_bytes',
    help: 'memory a task uses (resident; page cache it can drop excluded)',
    labelNames,
    registers: [r],
    collect() {
      this.reset();
      for (const t of rows()) this.set(t.labels, t.mem);
    },
  });
  for (const [dir, pick] of [
    ['received', (t: { rx: number }) => t.rx],
    ['transmitted', (t: { tx: number }) => t.tx],
  ] as const) {
    new Counter({
      name: `fleet_task_network_${dir}_bytes_total`,
      help: `bytes a task ${dir} on its own network interfaces since it started`,
      labelNames,
      registers: [r],
      collect() {
        this.reset();
        for (const t of rows()) this.inc(t.labels, pick(t));
      },
    });
  }
}

function flag(b: boolean | undefined): number | undefined {
  return b === undefined ? undefined : b ? 1 : 0;
}
