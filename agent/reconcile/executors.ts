// The executors: what the agent does for each kind of step the planner returns, one function per kind.
import type { Clock } from '../../shared/clock.js';
import type { Slots } from '../../shared/limit.js';
import type { Logger } from '../../shared/log.js';
import type { AssignedTask } from '../../shared/protocol.js';
import { isTaskRejected, rejectReasonOf, type Runtime } from '../runtime/types.js';
import type { Drainer } from './drain.js';
import { freshLocal, runningMessage, type LocalTask } from './local-state.js';
import type { Step } from './planner.js';
import { openRegistryAuth } from './registry-auth.js';
import type { TaskFileStore } from './task-files.js';

/** A removal waits for the starts under way, but no longer than this. */
const REMOVAL_DEFER_MAX_MS = 30_000;
/** How long a workload removed without a known template gets to stop. */
const DEFAULT_STOP_GRACE_MS = 10_000;

/** One executor per step kind: a step kind added to the planner without one does not compile. */
export type Executors = {
  [K in Step['kind']]: (step: Extract<Step, { kind: K }>) => Promise<void> | void;
};

export interface ExecutorDeps {
  nodeId: string;
  /** The node's name, for --hostname templates. */
  nodeName?: string;
  advertiseAddr: string;
  runtime: Runtime;
  logger: Logger;
  clock: Clock;
  drainer: Drainer;
  files: TaskFileStore;
  /** The node's box secret key, to open registry credentials sealed to it. */
  boxSecretKey: string;
  preflight: { check(task: AssignedTask): Promise<void> } | undefined;
  /** The agent's record of each task, which the executors keep up to date. */
  local: Map<string, LocalTask>;
  /** Templates of tasks seen in assignments, so a task removed from one still stops gracefully. */
  known: Map<string, AssignedTask>;
  /** How many starts talk to the runtime at once. */
  startSlots: Slots;
  /** Removals of stopped workloads: after the starts, and few at once. */
  removalSlots: Slots;
  /** Records a change of a task and has it reported. */
  update: (taskId: string, patch: Partial<LocalTask>) => void;
  /** A task stopped and forgotten: reported as shut down for a while. */
  removedTask(taskId: string, last: LocalTask): void;
  /** Whether the current assignment still wants the task. */
  isDesired(taskId: string): boolean;
  /** True once the agent is shutting down. */
  closing(): boolean;
}

/** Runs one step with the executor of its kind. */
export function execute(executors: Executors, step: Step): Promise<void> | void {
  // The mapped type guarantees the executor takes this very kind of step.
  const run = executors[step.kind] as (s: Step) => Promise<void> | void;
  return run(step);
}

export function createExecutors(deps: ExecutorDeps): Executors {
  const startTask = (task: AssignedTask): Promise<void> => runStart(deps, task);
  return {
    start: (step) => startTask(step.task),
    adopt: (step) =>
      deps.update(step.task.id, {
        state: 'running',
        message: runningMessage(deps.local.get(step.task.id)?.imageNote ?? null),
        runtimeId: step.workload.runtimeId,
        hostPorts: step.workload.hostPorts,
        health: step.workload.health ?? 'none',
        error: null,
      }),
    health: (step) => deps.update(step.task.id, { health: step.workload.health ?? 'none' }),
    unhealthy: (step) => stopUnhealthy(deps, step),
    exited: (step) => {
      const code = step.workload.exitCode;
      deps.update(step.task.id, {
        state: code === 0 ? 'complete' : 'failed',
        message: code === 0 ? 'finished' : 'exited',
        error: code === 0 ? null : exitError(code, step.workload.exitReason),
        exitCode: code,
        lastExitAt: step.workload.finishedAt ?? deps.clock.now(),
      });
    },
    restart: async (step) => {
      deps.logger.info('restarting task while the manager is unreachable', {
        taskId: step.task.id,
      });
      const now = deps.clock.now();
      await deps.runtime.remove(step.workload.runtimeId).catch(() => undefined);
      const l = deps.local.get(step.task.id);
      if (l) {
        l.localRestarts.push(now);
        l.restarts++;
      }
      return startTask(step.task);
    },
    remove: (step) => removeWorkload(deps, step),
  };
}

/** "task exited with code 137: out of memory (limit 32 MiB)" when the runtime knows why. */
function exitError(code: number | null, reason: string | undefined): string {
  return `task exited with code ${code ?? 'unknown'}${reason ? `: ${reason}` : ''}`;
}

async function stopUnhealthy(
  deps: ExecutorDeps,
  step: Extract<Step, { kind: 'unhealthy' }>,
): Promise<void> {
  const { runtime, logger } = deps;
  const w = step.workload;
  const why = w.healthOutput ? `: ${w.healthOutput}` : '';
  logger.warn('task is unhealthy; stopping it', { taskId: step.task.id, output: w.healthOutput });
  deps.update(step.task.id, {
    state: 'failed',
    message: 'unhealthy',
    error: `health check failed${why}`,
    health: 'unhealthy',
    lastExitAt: deps.clock.now(),
  });
  // Reported failed, it leaves the routing tables: new connections go elsewhere before
  // the stop, which may end the task at once.
  await deps.drainer.leaveTable(w);
  await runtime.stop(w.runtimeId, step.task.template.stopGracePeriodMs).catch((e: unknown) => {
    logger.warn('could not stop an unhealthy task', { taskId: step.task.id, error: String(e) });
  });
}

async function removeWorkload(
  deps: ExecutorDeps,
  step: Extract<Step, { kind: 'remove' }>,
): Promise<void> {
  const { runtime, logger, clock } = deps;
  const now = clock.now();
  const w = step.workload;
  const template = deps.known.get(w.taskId)?.template;
  if (deps.drainer.needed(w, template)) {
    if (deps.local.has(w.taskId)) deps.update(w.taskId, { message: 'draining' });
    await deps.drainer.drain(w, template);
    // An agent shutting down leaves its workloads running.
    if (deps.closing()) return;
  }
  try {
    await runtime.stop(w.runtimeId, template?.stopGracePeriodMs ?? DEFAULT_STOP_GRACE_MS);
  } catch (e) {
    logger.warn('could not stop workload', { runtimeId: w.runtimeId, error: String(e) });
    return;
  }
  // Stopped is what the manager waits for (a stop-first update starts the replacement):
  // reported now, while the engine still removes the container.
  const l = deps.local.get(w.taskId) ?? freshLocal(now);
  deps.local.delete(w.taskId);
  deps.known.delete(w.taskId);
  deps.removedTask(w.taskId, { ...l, state: 'shutdown', message: step.reason, at: now });
  // The engine's time goes to starts first (a stop-first update waits for them), then to
  // removals, a few at a time: a stopped container holds nothing but its disk.
  await Promise.race([deps.startSlots.idle(), clock.sleep(REMOVAL_DEFER_MAX_MS)]);
  await deps.removalSlots.run(async () => {
    try {
      await runtime.remove(w.runtimeId);
      if (!deps.isDesired(w.taskId)) await deps.files.remove(w.taskId);
    } catch (e) {
      // Still listed as a stopped workload: the next pass removes it again.
      logger.warn('could not remove workload', { runtimeId: w.runtimeId, error: String(e) });
    }
  });
}

async function runStart(deps: ExecutorDeps, task: AssignedTask): Promise<void> {
  const { runtime, update } = deps;
  try {
    update(task.id, { state: 'preparing', message: 'preparing', error: null, exitCode: null });
    await deps.preflight?.check(task);
    const image = await runtime.prepare(task, openRegistryAuth(task, deps.boxSecretKey));
    if (image) update(task.id, { digest: image.digest, imageNote: image.note });
    // A pull of unknown size may have eaten into the reserve: checked again before the start.
    await deps.preflight?.check(task);
    const files = await deps.files.materialize(task);
    update(task.id, { state: 'starting', message: 'starting' });
    const w = await runtime.start(task, {
      nodeId: deps.nodeId,
      ...(deps.nodeName ? { nodeName: deps.nodeName } : {}),
      hostIp: deps.advertiseAddr,
      files,
      ...(image ? { image: image.ref } : {}),
    });
    update(task.id, {
      state: 'running',
      message: runningMessage(image?.note ?? null),
      runtimeId: w.runtimeId,
      hostPorts: w.hostPorts,
      health: w.health ?? 'none',
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    deps.logger.warn('task could not start', { taskId: task.id, error: msg });
    const code = rejectReasonOf(e);
    update(task.id, {
      state: isTaskRejected(e) ? 'rejected' : 'failed',
      message: isTaskRejected(e) ? 'rejected' : 'start failed',
      error: msg,
      lastExitAt: deps.clock.now(),
      ...(code ? { reasonCode: code } : {}),
    });
  }
}
