// The manager's RPC methods for agent upgrade rollouts (`fleet node upgrade`): parameter schemas and results, merged into shared/api.ts.
import { z } from 'zod';
import { VERSION_RE } from './ota/release-record.js';
import type { RolloutRecord } from './ota/rollout-record.js';

const ms = z
  .number()
  .int()
  .min(0)
  .max(7 * 24 * 3_600_000);

export const upgradeParams = {
  /** Starts a rollout of `version` (default: the newest stored release) to the nodes chosen. */
  'upgrade.create': z.object({
    version: z.string().max(80).regex(VERSION_RE, 'expected a version such as 1.2.3').optional(),
    nodes: z.array(z.string().min(1).max(128)).max(10_000).default([]),
    all: z.boolean().default(false),
    /** Nodes carrying every one of these labels. */
    labels: z.record(z.string().max(128), z.string().max(256)).default({}),
    parallelism: z.number().int().min(1).max(10_000).optional(),
    delayMs: ms.optional(),
    monitorMs: ms.optional(),
    downloadMs: ms.optional(),
    failureAction: z.enum(['pause', 'rollback', 'continue']).optional(),
    maxFailureRatio: z.number().min(0).max(1).optional(),
    canary: z.number().int().min(0).max(10_000).optional(),
  }),
  /** Every rollout, the newest first. */
  'upgrade.ls': z.object({}).default({}),
  /** The newest rollout, paused or held at its canaries, goes on. */
  'upgrade.resume': z.object({}).default({}),
  /** The newest rollout's upgraded nodes go back to the releases they ran before. */
  'upgrade.rollback': z.object({}).default({}),
} as const;

export const UPGRADE_WRITE_METHODS = [
  'upgrade.create',
  'upgrade.resume',
  'upgrade.rollback',
] as const;

export interface UpgradeResults {
  'upgrade.create': RolloutRecord;
  'upgrade.ls': RolloutRecord[];
  'upgrade.resume': RolloutRecord;
  'upgrade.rollback': RolloutRecord;
}
