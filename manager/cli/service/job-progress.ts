// When a followed job is over: every slot (or node) of its current iteration has a complete task, or none is left trying.
import type { ServiceDetail, TaskView } from '../../../shared/api.js';
import { progressLines } from '../format.js';

/** Where a followed job stands. `failed` holds when no task of the job is trying any more. */
export interface JobProgress {
  converged: boolean;
  /** Tasks completed, in `running` so the shared progress printing reads it. */
  running: number;
  desired: number;
  lines: Map<string, string>;
  failed: boolean;
}

const ENDED: ReadonlySet<string> = new Set([
  'complete',
  'failed',
  'shutdown',
  'rejected',
  'orphaned',
]);

/**
 * A job converges when it completed, as `docker service create` waits for a job: every slot
 * of a replicated job, every node a global job has a task on (at least one), has a complete
 * task of the current iteration and none of its tasks is still live.
 */
export function jobProgress(detail: ServiceDetail, tasks: readonly TaskView[]): JobProgress {
  const isCurrent = (t: TaskView): boolean => t.specVersion === detail.specVersion;
  const mine = tasks.filter(isCurrent);
  const done = new Set(
    mine.filter((t) => t.state === 'complete').map((t) => (t.slot > 0 ? `${t.slot}` : t.node)),
  );
  const completed = done.size;
  const desired =
    detail.mode === 'replicated-job'
      ? detail.spec.replicas
      : new Set(mine.map((t) => t.node).filter((n) => n !== null)).size;
  const live = tasks.some((t) => t.desiredState === 'running' && !ENDED.has(t.state));
  const lines = new Map([
    ['overall', `job progress: ${completed} out of ${desired} tasks complete`],
  ]);
  for (const [name, line] of progressLines(tasks, isCurrent)) lines.set(name, line);
  const finished = completed >= desired && !live;
  return {
    converged: finished && (desired > 0 || detail.mode === 'replicated-job'),
    running: completed,
    desired,
    lines,
    failed: !live && completed < desired && mine.length > 0,
  };
}
