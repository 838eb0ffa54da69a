// Usage summaries agents send with their heartbeats: the board's health and each task's CPU, memory and network.
import { z } from 'zod';

const gauge = z.number().min(0).max(Number.MAX_SAFE_INTEGER);

/** One task's usage in a summary: CPU in cores, memory in bytes, network bytes since it started. */
export const taskUsageSchema = z.object({
  id: z.string().max(64),
  cpu: z.number().min(0).max(4096),
  mem: gauge,
  rx: gauge,
  tx: gauge,
});
export type TaskUsage = z.infer<typeof taskUsageSchema>;

/** The board's own health: CPU as a fraction of all cores, memory and data disk in bytes. */
export const nodeUsageSchema = z.object({
  cpu: z.number().min(0).max(1),
  memUsed: gauge,
  memTotal: gauge,
  diskUsed: gauge,
  diskTotal: gauge,
  /** The hottest thermal zone, where /sys exposes one. */
  tempC: z.number().min(-273).max(1000).optional(),
  /** The supply is (now) below what the board needs (Raspberry Pi firmware or hwmon). */
  underVoltage: z.boolean().optional(),
  /** The firmware is slowing the CPU down now (heat or supply). */
  throttled: z.boolean().optional(),
});
export type NodeUsage = z.infer<typeof nodeUsageSchema>;

/** A usage summary, sent with a heartbeat at most once per the assignment's statsMs. */
export const usageSchema = z.object({
  /** When the agent sampled it (the agent's clock). */
  at: z.number(),
  node: nodeUsageSchema,
  tasks: z.array(taskUsageSchema).max(1000),
});
export type UsageSummary = z.infer<typeof usageSchema>;

/** A node's latest figures as the API shows them (`node inspect`), with when they arrived. */
export type NodeUsageView = NodeUsage & { reportedAt: string };

/** A task's latest figures as the API shows them (`service ps --stats`). */
export type TaskUsageView = Omit<TaskUsage, 'id'> & { reportedAt: string };
