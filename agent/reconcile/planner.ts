// The pure planner: desired tasks and observed workloads in, the steps that reconcile them out.
import type { AssignedTask } from '../../shared/protocol.js';
import type { TaskHealth, TaskState } from '../../shared/spec.js';
import type { ObservedWorkload } from '../runtime/types.js';

export type Step =
  | { kind: 'start'; task: AssignedTask }
  | { kind: 'adopt'; task: AssignedTask; workload: ObservedWorkload }
  | { kind: 'exited'; task: AssignedTask; workload: ObservedWorkload }
  | { kind: 'restart'; task: AssignedTask; workload: ObservedWorkload }
  /** The health check's verdict changed (starting, healthy): reported, nothing else. */
  | { kind: 'health'; task: AssignedTask; workload: ObservedWorkload }
  /** The health check failed its retries: the task fails and its workload is stopped. */
  | { kind: 'unhealthy'; task: AssignedTask; workload: ObservedWorkload }
  | { kind: 'remove'; workload: ObservedWorkload; reason: string };

export interface PlanInput {
  desired: readonly AssignedTask[];
  observed: readonly ObservedWorkload[];
  /** What the agent last recorded per task (absent for tasks it has not touched yet). */
  local: ReadonlyMap<
    string,
    { state: TaskState; lastExitAt: number | null; health?: TaskHealth | undefined }
  >;
  now: number;
  /** True while the manager is unreachable: the agent then applies restart policies itself. */
  autonomous: boolean;
  /** Whether the restart policy allows another local restart of this task now. */
  mayRestartLocally: (task: AssignedTask, exitCode: number | null) => boolean;
}

export interface Plan {
  steps: Step[];
  /** Earliest time a delayed start becomes due, so the caller can wake up for it. */
  wakeAt: number | null;
}

export function plan(input: PlanInput): Plan {
  const steps: Step[] = [];
  let wakeAt: number | null = null;
  const byTask = new Map<string, ObservedWorkload[]>();
  for (const w of input.observed) {
    const list = byTask.get(w.taskId) ?? [];
    list.push(w);
    byTask.set(w.taskId, list);
  }
  const desiredIds = new Set(input.desired.map((t) => t.id));
  for (const [taskId, list] of byTask) {
    if (!desiredIds.has(taskId)) {
      for (const w of list)
        steps.push({ kind: 'remove', workload: w, reason: 'no longer assigned' });
    }
  }
  for (const task of input.desired) {
    const list = (byTask.get(task.id) ?? []).sort((a, b) => Number(b.running) - Number(a.running));
    const [keep, ...extra] = list;
    for (const w of extra)
      steps.push({ kind: 'remove', workload: w, reason: 'duplicate workload' });
    const local = input.local.get(task.id);
    if (!keep) {
      if (
        local &&
        (local.state === 'rejected' || local.state === 'failed' || local.state === 'complete')
      )
        continue;
      if (local && (local.state === 'preparing' || local.state === 'starting')) continue; // in flight
      if (task.notBefore > input.now) {
        wakeAt = Math.min(wakeAt ?? Infinity, task.notBefore);
        continue;
      }
      steps.push({ kind: 'start', task });
      continue;
    }
    if (keep.running) {
      // Declared unhealthy: its stop is under way (or is retried once the task leaves).
      if (local?.state === 'failed' && local.health === 'unhealthy') continue;
      if (local?.state !== 'running') steps.push({ kind: 'adopt', task, workload: keep });
      else if (keep.health === 'unhealthy') steps.push({ kind: 'unhealthy', task, workload: keep });
      else if ((keep.health ?? 'none') !== (local.health ?? 'none'))
        steps.push({ kind: 'health', task, workload: keep });
      continue;
    }
    // Created and not yet started: the start under way decides, not this listing.
    if (local?.state === 'preparing' || local?.state === 'starting') continue;
    const ended = local?.state === 'failed' || local?.state === 'complete';
    if (!ended) {
      steps.push({ kind: 'exited', task, workload: keep });
      continue;
    }
    if (input.autonomous && input.mayRestartLocally(task, keep.exitCode)) {
      const due = (local?.lastExitAt ?? input.now) + task.template.restart.delayMs;
      if (due <= input.now) steps.push({ kind: 'restart', task, workload: keep });
      else wakeAt = Math.min(wakeAt ?? Infinity, due);
    }
  }
  return { steps, wakeAt };
}

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
