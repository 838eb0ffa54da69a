// Which slow reconcile steps run beside the passes, keyed by what they act on.
import type { Step } from './planner.js';

/** What a slow step acts on, so a pass does not start it twice; null for a step done inline. */
export function backgroundKey(step: Step): string | null {
  switch (step.kind) {
    case 'start':
    case 'restart':
      return `task:${step.task.id}`;
    case 'remove':
    case 'unhealthy':
      return `workload:${step.workload.runtimeId}`;
    default:
      return null;
  }
}
