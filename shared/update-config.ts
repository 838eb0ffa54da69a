// A service's update and rollback settings, their defaults, and where an update stands.
import { z } from 'zod';

/**
 * How a service's tasks are replaced when its spec changes (update) or goes back (rollback):
 * Swarm's update settings plus canaries. Absent fields take the defaults of updateSettings().
 */
export const updateConfigSchema = z.object({
  /** Tasks replaced at once; 0 = all at once. */
  parallelism: z.number().int().min(0).max(10_000).optional(),
  /** Wait after a task is updated before the next one starts. */
  delayMs: z.number().int().min(0).max(86_400_000).optional(),
  /** How long a new task must stay running (and healthy) to count as updated. */
  monitorMs: z.number().int().min(0).max(86_400_000).optional(),
  failureAction: z.enum(['pause', 'continue', 'rollback']).optional(),
  /** Failures tolerated, as a share of the tasks being updated (0 to 1). */
  maxFailureRatio: z.number().min(0).max(1).optional(),
  /** stop-first: stop the old task, then start the new; start-first: the other way round. */
  order: z.enum(['stop-first', 'start-first']).optional(),
  /** Canaries: update this many tasks first, then hold until promoted. */
  canary: z.number().int().min(0).max(10_000).optional(),
  /** Canaries as a percentage of the tasks instead (rounded up). */
  canaryPercent: z.number().min(0).max(100).optional(),
  /** Promote the canaries by themselves once they stay healthy for the monitor period. */
  autoPromote: z.boolean().optional(),
  /**
   * An image the cluster stores is first downloaded by every node that runs an old task, and
   * only then are tasks replaced (default on).
   */
  prefetch: z.boolean().optional(),
});
export type UpdateConfig = z.infer<typeof updateConfigSchema>;

export interface UpdateSettings {
  parallelism: number;
  delayMs: number;
  monitorMs: number;
  failureAction: 'pause' | 'continue' | 'rollback';
  maxFailureRatio: number;
  order: 'stop-first' | 'start-first';
  canary: number;
  canaryPercent: number;
  autoPromote: boolean;
  prefetch: boolean;
}

/** Docker Swarm's defaults: one task at a time, watched for 5 s, pause on the first failure. */
export const DEFAULT_UPDATE: UpdateSettings = {
  parallelism: 1,
  delayMs: 0,
  monitorMs: 5_000,
  failureAction: 'pause',
  maxFailureRatio: 0,
  order: 'stop-first',
  canary: 0,
  canaryPercent: 0,
  autoPromote: false,
  prefetch: true,
};

/** A service's update or rollback settings with every default filled in. */
export function updateSettings(
  spec: { update?: UpdateConfig | undefined; rollback?: UpdateConfig | undefined },
  kind: 'update' | 'rollback',
): UpdateSettings {
  const given = (kind === 'update' ? spec.update : spec.rollback) ?? {};
  const out: UpdateSettings = { ...DEFAULT_UPDATE };
  for (const [k, v] of Object.entries(given)) {
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  if (kind === 'rollback') {
    // A rollback has no canaries, and nothing to roll back to if it fails.
    out.canary = 0;
    out.canaryPercent = 0;
    if (out.failureAction === 'rollback') out.failureAction = 'pause';
  }
  return out;
}

/** Settings given later replace those given earlier, field by field. */
export function mergeUpdateConfig(
  old: UpdateConfig | undefined,
  change: UpdateConfig | undefined,
): UpdateConfig | undefined {
  if (!change || Object.keys(change).length === 0) return old;
  return { ...(old ?? {}), ...change };
}

export const UPDATE_STATES = [
  'updating',
  'canary',
  'paused',
  'completed',
  'rolling back',
  'rollback paused',
  'rolled back',
] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

/** Where a service's update (or rollback) stands; kept in the store so it survives restarts. */
export interface UpdateStatus {
  kind: 'update' | 'rollback';
  state: UpdateState;
  /** Why it stopped (paused, rolled back), or what it waits for. */
  message: string;
  startedAt: number;
  completedAt?: number;
  /** The spec version the update replaces tasks of (the one before it). */
  fromVersion: number;
  /** Tasks of the new version that failed within the monitor period. */
  failedTaskIds: string[];
  /** Canaries were promoted (by hand or by themselves): the rest may follow. */
  promoted: boolean;
}

/** The update states in which the updater still replaces tasks. */
export const isActiveUpdate = (s: UpdateStatus | undefined): boolean =>
  s !== undefined && (s.state === 'updating' || s.state === 'rolling back');
