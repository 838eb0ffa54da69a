// The agent's usage summaries: the board read from /proc and /sys, its running tasks through the runtime.
import type { Clock } from '../../shared/clock.js';
import type { UsageSummary } from '../../shared/usage.js';
import type { LocalTask } from '../reconcile/local-state.js';
import type { Runtime } from '../runtime/types.js';
import { nodeFiles, readBoard } from './board.js';
import { UsageSampler } from './sampler.js';

/** What usage() reads: the runtime, the data dir's disk and the agent's record of its tasks. */
export interface UsageSourceDeps {
  runtime: Runtime;
  dataDir: string;
  clock: Clock;
  tasks(): ReadonlyMap<string, LocalTask>;
}

/** A function that reads a summary each time it is called (the first call takes a baseline). */
export function usageSource(deps: UsageSourceDeps): () => Promise<UsageSummary | undefined> {
  const { runtime } = deps;
  const sampler = new UsageSampler({
    clock: deps.clock,
    board: () => readBoard(nodeFiles, deps.dataDir),
    tasks: () =>
      [...deps.tasks()].flatMap(([taskId, t]) =>
        t.state === 'running' && t.runtimeId ? [{ taskId, runtimeId: t.runtimeId }] : [],
      ),
    ...(runtime.usage
      ? { usage: (ids: readonly string[]) => runtime.usage?.(ids) ?? Promise.resolve([]) }
      : {}),
  });
  return () => sampler.sample();
}
