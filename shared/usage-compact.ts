// The compact wire form of a usage summary: numbers in fixed places, memory in KiB and disks in MiB, about half the bytes.
import { z } from 'zod';
import type { NodeUsage, TaskUsage, UsageSummary } from './usage.js';

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const flag = z.union([z.literal(0), z.literal(1)]);

/**
 * `n`: the board, [cpu in thousandths of all cores, memory used and total in KiB, data disk used
 * and total in MiB, then optionally the temperature in tenths of a degree (null: none), under-
 * voltage and throttling (0 or 1)]. `k`: one [task id, cpu in thousandths of a core, memory in
 * KiB, bytes received, bytes sent] per task. Bytes on the network stay exact: they are counters
 * whose differences matter.
 */
export const compactUsageSchema = z.object({
  t: z.number(),
  n: z.union([
    z.tuple([count, count, count, count, count]),
    z.tuple([count, count, count, count, count, z.number().int().nullable()]),
    z.tuple([count, count, count, count, count, z.number().int().nullable(), flag, flag]),
  ]),
  k: z.array(z.tuple([z.string().max(64), count, count, count, count])).max(1000),
});
export type CompactUsage = z.infer<typeof compactUsageSchema>;

const KIB = 1024;
const MIB = 1024 * 1024;
const milli = (x: number): number => Math.round(x * 1000);

export function compactUsage(s: UsageSummary): CompactUsage {
  const b = s.node;
  const base: [number, number, number, number, number] = [
    milli(b.cpu),
    Math.round(b.memUsed / KIB),
    Math.round(b.memTotal / KIB),
    Math.round(b.diskUsed / MIB),
    Math.round(b.diskTotal / MIB),
  ];
  const temp = b.tempC === undefined ? null : Math.round(b.tempC * 10);
  const flags = b.underVoltage !== undefined || b.throttled !== undefined;
  const n: CompactUsage['n'] = flags
    ? [...base, temp, b.underVoltage ? 1 : 0, b.throttled ? 1 : 0]
    : temp !== null
      ? [...base, temp]
      : base;
  const k = s.tasks.map((t): CompactUsage['k'][number] => [
    t.id,
    milli(t.cpu),
    Math.round(t.mem / KIB),
    t.rx,
    t.tx,
  ]);
  return { t: s.at, n, k };
}

/** The summary a compact form stands for (to the precision it keeps). */
export function expandUsage(c: CompactUsage): UsageSummary {
  const [cpu, memUsed, memTotal, diskUsed, diskTotal, temp, under, throttled] = c.n;
  const node: NodeUsage = {
    cpu: Math.min(1, cpu / 1000),
    memUsed: memUsed * KIB,
    memTotal: memTotal * KIB,
    diskUsed: diskUsed * MIB,
    diskTotal: diskTotal * MIB,
    ...(temp !== undefined && temp !== null ? { tempC: temp / 10 } : {}),
    ...(under !== undefined ? { underVoltage: under === 1 } : {}),
    ...(throttled !== undefined ? { throttled: throttled === 1 } : {}),
  };
  const tasks = c.k.map(([id, taskCpu, mem, rx, tx]): TaskUsage => ({
    id,
    cpu: taskCpu / 1000,
    mem: mem * KIB,
    rx,
    tx,
  }));
  return { at: c.t, node, tasks };
}
